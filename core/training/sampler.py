"""P x K batches: P people, K images of each, so every batch holds positives and negatives.

Online mining only finds triplets inside a batch; random batches from many people rarely
hold two images of one person. An epoch visits every person once (in groups of P), and the
batches of epoch e depend only on (seed, e), so a run resumed mid-epoch replays the same
batches from the step where it stopped.
"""

from __future__ import annotations

import numpy as np


class PKSampler:
    def __init__(self, labels: np.ndarray, people_per_batch: int, images_per_person: int, seed: int = 0) -> None:
        labels = np.asarray(labels)
        self.members = [np.flatnonzero(labels == person) for person in np.unique(labels)]
        if len(self.members) < 2:
            raise ValueError("a P x K batch needs at least two people")
        if images_per_person < 2:
            raise ValueError("K (images per person) must be at least 2 to form positive pairs")
        self.people_per_batch = min(people_per_batch, len(self.members))
        self.images_per_person = images_per_person
        self.seed = seed

    @property
    def batch_size(self) -> int:
        return self.people_per_batch * self.images_per_person

    def __len__(self) -> int:
        """Batches per epoch: every person once."""
        return -(-len(self.members) // self.people_per_batch)

    def epoch(self, epoch: int) -> list[np.ndarray]:
        """The index batches of one epoch, always the same for the same (seed, epoch)."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.members))
        shortfall = len(self) * self.people_per_batch - len(order)
        if shortfall:  # fill the last group with people not already in it
            order = np.r_[order, rng.choice(order[:-(len(order) % self.people_per_batch)], shortfall, replace=False)]
        batches = []
        for group in order.reshape(len(self), self.people_per_batch):
            picks = [rng.choice(self.members[person], self.images_per_person,
                                replace=len(self.members[person]) < self.images_per_person) for person in group]
            batches.append(np.concatenate(picks))
        return batches
