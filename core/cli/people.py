"""``oneshot enroll | people | samples | remove-sample | not | remove-negative | rename | forget | export |
import | identify | reembed``: the gallery."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from .common import at_least, positive_number  # option types
from .common import (LIVENESS_HELP, assessment_document, common_options, each_image, emit, face_document,
                     gallery_option, live_or_unchecked, load_pipeline, model_options, open_gallery, print_faces,
                     progress_printer, tau_in_force)


def _face_choice(parser) -> None:
    """``--largest | --face N | --box X1,Y1,X2,Y2``: which face of a group photo (one at most)."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--largest", action="store_true", help="take the largest face when the photo has several")
    which.add_argument("--face", type=at_least(1), metavar="N",
                       help="take face N of a group photo (numbered as `oneshot detect` lists them)")
    which.add_argument("--box", type=box_argument, metavar="X1,Y1,X2,Y2",
                       help="take the face in this box of a group photo (pixels of the original photo)")


def register(commands) -> None:
    gallery = gallery_option()
    plain = [common_options(), gallery]
    with_models = [common_options(), model_options(), gallery]

    enroll = commands.add_parser("enroll", parents=with_models, help="enrol a person from one photo")
    enroll.add_argument("name", metavar="NAME")
    enroll.add_argument("image", metavar="IMAGE")
    enroll.add_argument("--force", action="store_true",
                        help="enrol even if the face matches someone else; with --add, add a sample even if it does "
                             "not look like the person")
    _face_choice(enroll)
    enroll.add_argument("--add", action="store_true", help="add a sample to a person already enrolled")
    enroll.add_argument("--masked", action="store_true",
                        help="with --add: the photo shows the person wearing a mask (compared with masked faces at "
                             "their own threshold)")
    enroll.add_argument("--liveness", action="store_true",
                        help="refuse a face that looks like a photo or a screen held up to a camera (--force enrols it)")
    enroll.set_defaults(run=run_enroll)

    commands.add_parser("people", parents=plain, help="list enrolled people").set_defaults(run=run_people)

    samples = commands.add_parser("samples", parents=plain,
                                  help="list one person's samples (with the distance to their others) and negatives")
    samples.add_argument("name", metavar="NAME")
    samples.set_defaults(run=run_samples)

    remove = commands.add_parser("remove-sample", parents=plain, help="delete one sample, irrecoverably")
    remove.add_argument("id", type=at_least(1), metavar="ID", help="the sample's number, as `samples` lists it")
    remove.set_defaults(run=run_remove_sample)

    negative = commands.add_parser("not", parents=with_models,
                                   help="store a face that is NOT this person: faces closer to it are not named so")
    negative.add_argument("name", metavar="NAME")
    negative.add_argument("image", metavar="IMAGE")
    _face_choice(negative)
    negative.set_defaults(run=run_not)

    remove = commands.add_parser("remove-negative", parents=plain, help="delete one negative, irrecoverably")
    remove.add_argument("id", type=at_least(1), metavar="ID", help="the negative's number, as `samples` lists it")
    remove.set_defaults(run=run_remove_negative)

    rename = commands.add_parser("rename", parents=plain, help="rename a person")
    rename.add_argument("old", metavar="OLD")
    rename.add_argument("new", metavar="NEW")
    rename.set_defaults(run=run_rename)

    forget = commands.add_parser("forget", parents=plain, help="delete a person and every sample, irrecoverably")
    who = forget.add_mutually_exclusive_group(required=True)
    who.add_argument("name", metavar="NAME", nargs="?")
    who.add_argument("--id", type=at_least(1), metavar="ID",
                     help="the person's number, as `people` lists a damaged entry (#ID)")
    forget.set_defaults(run=run_forget)

    export = commands.add_parser("export", parents=plain,
                                 help="write the gallery to a portable file, encrypted with a passphrase "
                                      "($ONESHOT_EXPORT_PASSPHRASE, else asked)")
    export.add_argument("file", type=Path, metavar="FILE")
    export.add_argument("--plain", action="store_true",
                        help="do not encrypt: anyone who gets the file sees every face, name and vector")
    export.set_defaults(run=run_export)

    import_ = commands.add_parser("import", parents=with_models,
                                  help="add the people of an exported file (an encrypted one asks its passphrase: "
                                       "$ONESHOT_EXPORT_PASSPHRASE, else the terminal)")
    import_.add_argument("file", type=Path, metavar="FILE")
    import_.add_argument("--reembed", action="store_true",
                         help="accept an export of another model: compute new vectors from its chips")
    import_.add_argument("--on-conflict", choices=("fail", "skip", "merge"), default="fail",
                         help="a name already enrolled: refuse the whole import (fail, the default), leave that "
                              "person as they are (skip), or add the file's samples to them (merge)")
    import_.set_defaults(run=run_import)

    identify = commands.add_parser("identify", parents=with_models, help="name every face in images")
    identify.add_argument("images", nargs="+", metavar="IMAGE")
    identify.add_argument("--tau", type=positive_number, default=None, help="distance threshold (default from the model)")
    identify.add_argument("--top-k", type=at_least(1), default=3, help="candidates listed per face (default 3)")
    identify.add_argument("--liveness", action="store_true", help=LIVENESS_HELP)
    identify.set_defaults(run=run_identify)

    reembed = commands.add_parser("reembed", parents=with_models, help="re-embed every stored chip with the active model")
    reembed.set_defaults(run=run_reembed)


def box_argument(text: str) -> tuple[float, float, float, float]:
    """``X1,Y1,X2,Y2``: four finite numbers, a box with its second corner right of and below the first."""
    parts = text.split(",")
    try:
        box = tuple(float(part) for part in parts)
    except ValueError:
        box = ()
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise argparse.ArgumentTypeError(f"expected four numbers X1,Y1,X2,Y2, got {text!r}")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise argparse.ArgumentTypeError(f"expected X2 > X1 and Y2 > Y1, got {text!r}")
    return box


def _matcher(gallery, pipeline, args, top_k=3):
    """The gallery's matcher at the tau in force (``--tau`` > ONESHOT_TAU > settings > the model's)."""
    from ..live.match import Matcher

    return Matcher(gallery, pipeline.embedder.spec.id, tau_in_force(args, pipeline), top_k, pipeline.condition_taus)


def _open_for_reading(args):
    """The gallery for a command that only reads: opened read-only (``mode=ro``), never created."""
    return open_gallery(args, readonly=True)


def _name(name) -> str:
    """A name as printed for people: control and escape characters shown as ``\\x1b``, never sent."""
    from ..storage.names import printable

    return printable(name)


def _path(path) -> str:
    from ..storage.names import printable_path

    return printable_path(path)


def run_enroll(args) -> int:
    from ..live.enrol import enrol, prepare_candidate
    from ..vision.imaging import load_image

    with open_gallery(args) as gallery:
        gallery.check_name(args.name, enrolled=args.add)  # before any slow work
        pipeline = load_pipeline(args)
        candidate = prepare_candidate(pipeline, load_image(args.image), use_largest=args.largest,
                                      face_number=args.face, box=args.box, liveness=args.liveness and not args.force)
        result = enrol(gallery, _matcher(gallery, pipeline, args), args.name, candidate, pipeline.embedder.duplicate_tau,
                       force=args.force, add_sample=args.add, confirmed=args.force, masked=args.masked)
    person, similar = result.person, result.similar
    if result.warning:
        print(f"oneshot: warning: {result.warning}", file=sys.stderr)
    if similar is not None:
        print(f"oneshot: warning: {_path(args.image)}: this face also resembles {similar.name!r} "
              f"(distance {similar.distance:.3f} < tau {pipeline.tau:.2f})", file=sys.stderr)
    emit(args, {"name": person.name, "samples": person.samples, "quality": candidate.quality.score,
                 "resembles": similar and [similar.name, similar.distance]},
          f"enrolled {_name(person.name)} ({person.samples} sample{'s' if person.samples != 1 else ''}, "
          f"quality {candidate.quality.score:.2f})")
    return 0


def run_people(args) -> int:
    with _open_for_reading(args) as gallery:
        people = gallery.people()
        damaged = gallery.damaged_people()
    if args.json:
        print(json.dumps([vars(person) for person in people]
                         + [{"name": None, "id": entry.id, "samples": entry.samples, "damaged": entry.reason}
                            for entry in damaged]))
    elif not people and not damaged:
        print("nobody is enrolled yet: oneshot enroll NAME IMAGE")
    else:
        for person in people:
            print(f"{_name(person.name)}\t{_samples(person.samples)}\tsince {_name(person.created)}")
        for entry in damaged:
            print(f"{_owner(entry)}\t{_samples(entry.samples)}\t{_name(entry.reason)}; "
                  f"`oneshot forget --id {entry.id}` removes it")
    return 0


def _samples(count: int) -> str:
    return f"{count} sample{'s' if count != 1 else ''}"


def _owner(person) -> str:
    """A person as printed: the name, or "damaged entry #ID" where the name or note fails to open."""
    from ..storage.store import DamagedEntry

    return f"damaged entry #{person.id}" if isinstance(person, DamagedEntry) else _name(person.name)


def run_samples(args) -> int:
    from ..models.store import active_embedder

    with _open_for_reading(args) as gallery:
        person = gallery.person(args.name)
        damaged, damaged_negatives = [], []
        samples = gallery.person_samples(args.name, damaged)
        distances = gallery.sample_distances(args.name, active_embedder().id)
        negatives = gallery.negatives(args.name, damaged_negatives)

    def distance(sample_id):
        d = distances.get(sample_id)
        return None if d is None or d == float("inf") else round(d, 6)

    if args.json:
        print(json.dumps({"name": person.name, "note": person.note,
                          "samples": [{"id": s.id, "source": s.source, "created": s.created, "quality": s.quality,
                                       "distance": distance(s.id)} for s in samples],
                          "negatives": [{"id": n.id, "source": n.source, "created": n.created} for n in negatives],
                          "damaged_samples": [{"id": d.id, "reason": d.reason} for d in damaged],
                          "damaged_negatives": [{"id": d.id, "reason": d.reason} for d in damaged_negatives]}))
        return 0
    print(f"{_name(person.name)}: {len(samples)} sample{'s' if len(samples) != 1 else ''}, "
          f"{len(negatives)} negative{'s' if len(negatives) != 1 else ''}")
    for s in samples:
        d = distance(s.id)
        nearest = "alone" if d is None else f"{d:.3f} to the nearest other"
        print(f"  sample {s.id}\t{_name(s.source)}\t{_name(s.created)}\tquality {s.quality:.2f}\t{nearest}")
    for n in negatives:
        print(f"  negative {n.id}\t{_name(n.source)}\t{_name(n.created)}\tnot {_name(person.name)}")
    for kind, entries, command in (("sample", damaged, "remove-sample"), ("negative", damaged_negatives,
                                                                           "remove-negative")):
        for entry in entries:
            print(f"  damaged {kind} {entry.id}\t{_name(entry.reason)}\t`oneshot {command} {entry.id}` removes it")
    return 0


def run_remove_sample(args) -> int:
    with open_gallery(args) as gallery:
        person = gallery.remove_sample(args.id)
    emit(args, {"name": getattr(person, "name", None), "samples": person.samples, "removed_sample": args.id},
          f"removed sample {args.id} of {_owner(person)} ({_samples(person.samples)} left)")
    return 0


def run_not(args) -> int:
    from ..live.enrol import prepare_candidate
    from ..vision.imaging import load_image

    with open_gallery(args) as gallery:
        gallery.require_writable()
        name = gallery.person(args.name).name  # before any slow work
        pipeline = load_pipeline(args)
        candidate = prepare_candidate(pipeline, load_image(args.image), use_largest=args.largest,
                                      face_number=args.face, box=args.box)
        negative = gallery.add_negative(args.name, candidate.chip, candidate.embedding, pipeline.embedder.spec.id,
                                        candidate.source, candidate.quality.score)
    emit(args, {"name": name, "negative": negative},
          f"stored negative {negative}: faces closer to it than to {_name(name)}'s samples are not named "
          f"{_name(name)}")
    return 0


def run_remove_negative(args) -> int:
    with open_gallery(args) as gallery:
        person = gallery.remove_negative(args.id)
    emit(args, {"name": person.name, "removed_negative": args.id},
          f"removed negative {args.id} of {_name(person.name)}")
    return 0


def run_rename(args) -> int:
    with open_gallery(args) as gallery:
        gallery.require_writable()
        old = gallery.person(args.old).name
        person = gallery.rename(args.old, args.new)
    emit(args, {"name": person.name, "samples": person.samples}, f"renamed {_name(old)} to {_name(person.name)}")
    return 0


def run_forget(args) -> int:
    with open_gallery(args) as gallery:
        gallery.require_writable()
        if args.id is not None:
            count = gallery.forget(person_id=args.id)
            shown = f"entry #{args.id}"
        else:
            shown = _name(gallery.person(args.name).name)
            count = gallery.forget(args.name)
    emit(args, {"name": args.name, "id": args.id, "deleted_samples": count},
          f"forgot {shown} ({count} sample{'s' if count != 1 else ''} deleted)")
    return 0


def run_export(args) -> int:
    from ..storage.archive import export_gallery
    from ..models.store import active_embedder
    from .passphrases import export_passphrase

    # asked only once the export is known to be possible: twice, so a typo cannot lock it
    passphrase = None if args.plain else (lambda: export_passphrase(new=True))
    with _open_for_reading(args) as gallery:
        count = export_gallery(gallery, active_embedder().id, args.file, passphrase)
    if args.plain:
        print(f"oneshot: warning: {_path(args.file)} is not encrypted: anyone who gets it sees every face, name "
              "and vector", file=sys.stderr)
    emit(args, {"file": str(args.file), "samples": count, "encrypted": not args.plain},
          f"exported {count} samples to {_path(args.file)}{' (not encrypted)' if args.plain else ''}")
    return 0


def run_import(args) -> int:
    from ..storage.archive import import_archive
    from ..models.store import active_embedder
    from .passphrases import export_passphrase

    with open_gallery(args) as gallery:
        gallery.require_writable()  # before any slow work
        embed = None
        if args.reembed:
            pipeline = load_pipeline(args)
            embed = lambda chip: pipeline.embed(chip[None])[0]  # noqa: E731
        counts = import_archive(gallery, args.file, active_embedder().id, embed, on_conflict=args.on_conflict,
                                passphrase=lambda: export_passphrase(f"Passphrase of {_path(args.file)}"))
    if args.json:
        print(json.dumps({"file": str(args.file), "people": counts.people, "samples": counts.samples,
                          "skipped": list(counts.skipped), "merged": dict(counts.merged),
                          "duplicates": counts.duplicates}))
        return 0
    for name in counts.skipped:
        print(f"skipped {_name(name)}: already enrolled (left as they are)")
    for name, added in counts.merged:
        print(f"merged {added} sample{'s' if added != 1 else ''} into {_name(name)}")
    if counts.duplicates:
        print(f"left out {counts.duplicates} sample{'s' if counts.duplicates != 1 else ''} the gallery already had")
    print(f"imported {counts.people} people ({counts.samples} samples) from {_path(args.file)}")
    return 0


def run_identify(args) -> int:
    pipeline = load_pipeline(args)
    documents = []
    with _open_for_reading(args) as gallery:
        matcher = _matcher(gallery, pipeline, args, args.top_k)
        if matcher.skipped:
            print(f"oneshot: warning: skipped {matcher.skipped} damaged gallery "
                  f"entr{'ies' if matcher.skipped != 1 else 'y'} (a name or vector that fails to open): "
                  "`oneshot people` lists damaged people, `oneshot reembed` rebuilds vectors", file=sys.stderr)
        try:
            for path, image in each_image(args.images):
                results = pipeline.analyse(image, liveness=args.liveness)
                matches = matcher.match(np.stack([r.embedding for r in results]) if results else [],
                                        [r.condition for r in results])
                faces = [face_document(r.face, name=m.name if live_or_unchecked(r) else None,
                                       distance=_rounded(m.distance),
                                       candidates=[[n, round(d, 6)] for n, d in m.candidates],
                                       **({"vetoed": list(m.vetoed)} if m.vetoed else {}),
                                       **assessment_document(r, m.tau))
                         for r, m in zip(results, matches)]
                documents.append({"image": path, "faces": faces})
                if not args.json:  # names from the gallery file are shown escaped, never sent raw
                    print_faces(path, [dict(face, name=face["name"] and _name(face["name"])) for face in faces])
        finally:
            if args.json:
                print(json.dumps(documents))
    return 0


def _rounded(value):
    return None if value is None else round(value, 6)


def run_reembed(args) -> int:
    from ..models.activation import reembed_gallery

    with open_gallery(args) as gallery:
        gallery.require_writable()  # before any slow work
        pipeline = load_pipeline(args)
        model_id = pipeline.embedder.spec.id
        skipped: list[str] = []
        count = reembed_gallery(gallery, pipeline.embedder, only_missing=False,
                                progress=progress_printer(args, "re-embedding"), skipped=skipped)
    for line in skipped:
        print(f"oneshot: warning: skipped {_name(line)}", file=sys.stderr)
    emit(args, {"model_id": model_id, "samples": count, "skipped": skipped},
          f"re-embedded {count} samples with {model_id}")
    return 0
