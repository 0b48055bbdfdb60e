"""What became of each file: the outcome names, defined once.

An uploader reports an :data:`UploadOutcome`; the orchestrator adds the two a
release can leave a file in without an upload answer (:data:`FileOutcome`); the
journal records the same names plus ``planned``; the report draws one symbol per
name. Every module takes its names from here so that a new outcome is added in one
place and a typo is a type error.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "FILE_OUTCOMES",
    "SUCCESSFUL",
    "UPLOAD_OUTCOMES",
    "FileOutcome",
    "UploadOutcome",
]

#: What an uploader says of one file it was given.
UploadOutcome = Literal["uploaded", "already-present", "skipped"]
#: What a release says of one file: an upload outcome, or why there is none.
#: ``staged``: held in an Upload 2.0 session that ``--stage-only`` left unpublished.
FileOutcome = Literal["uploaded", "already-present", "skipped", "staged", "failed", "not-attempted"]

UPLOAD_OUTCOMES: tuple[UploadOutcome, ...] = get_args(UploadOutcome)
FILE_OUTCOMES: tuple[FileOutcome, ...] = get_args(FileOutcome)
#: The outcomes that leave the file as the user wanted it: the release is ``ok`` when all are these.
SUCCESSFUL: tuple[FileOutcome, ...] = (*UPLOAD_OUTCOMES, "staged")
