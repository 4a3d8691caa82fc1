"""The live loop: cameras, tracking, matching against the gallery, enrolment, and the service that owns them."""
