"""Find a model snapshot: a local directory, the Hugging Face cache, or a download.

The cache layout is huggingface_hub's (``hub/models--ORG--NAME/snapshots/<commit>/``
with ``refs/main``); huggingface_hub does the resolving and downloading, this module
only turns its failures into instructions a user can follow.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from ..errors import ModelUnavailable
from ..settings import OPEN_MODEL

log = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "model.safetensors")
# What a snapshot needs: config, remote code, weights. README, images and other
# weight formats are skipped to keep the download at the ~885 MB of safetensors.
DOWNLOAD_PATTERNS = ["*.json", "*.py", "*.safetensors"]
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass(frozen=True)
class Snapshot:
    """A model snapshot on disk.

    Attributes:
        model_id: what the user asked for (repo id or directory).
        path: the directory holding ``config.json``, the ``.py`` files and the weights.
        revision: the commit hash of a cached snapshot, or ``"local"`` for a directory.
    """

    model_id: str
    path: Path
    revision: str

    @property
    def is_local_dir(self) -> bool:
        return self.revision == "local"


# Repos known to be gated: their users must accept a licence before downloading.
GATED_REPOS = frozenset({"briaai/rmbg-2.0"})


def _fix_hint(repo_id: str) -> str:
    if repo_id.lower() not in GATED_REPOS:
        return (
            f"Run `python rmbg.py download {repo_id}` on a machine that can reach the Hub "
            "(set HF_TOKEN if the repo is private or gated), or start the app once online."
        )
    return (
        f"To use {repo_id}: accept its licence at https://huggingface.co/{repo_id} while "
        "logged in, create a read token at https://huggingface.co/settings/tokens, set "
        f"HF_TOKEN to it and run `python rmbg.py download {repo_id}` (or start the app "
        f"once online). Or use the open MIT-licensed model: RMBG_MODEL={OPEN_MODEL}."
    )


def _check_files(snapshot: Snapshot) -> Snapshot:
    missing = [name for name in REQUIRED_FILES if not (snapshot.path / name).is_file()]
    if missing:
        raise ModelUnavailable(
            f"The snapshot of {snapshot.model_id} at {snapshot.path} is incomplete: "
            f"{', '.join(missing)} missing. Download it again "
            f"(`python rmbg.py download {snapshot.model_id}`)."
        )
    return snapshot


def resolve_snapshot(
    model: str, *, revision: str | None, cache_dir: Path, offline: bool, token: str | None = None
) -> Snapshot:
    """Return the snapshot for ``model``: local cache first, download when allowed.

    Args:
        model: Hub repo id (``owner/name``) or an existing local directory.
        revision: branch, tag or commit hash; ``None`` means ``main``.
        cache_dir: the ``hub/`` cache directory (``$HF_HOME/hub``).
        offline: when true, never contact the Hub.
        token: Hub token; ``None`` lets huggingface_hub use ``HF_TOKEN`` or the saved login.

    Raises:
        ModelUnavailable: with the steps that fix it (licence, token, download, open model).
    """
    directory = Path(model).expanduser()
    if directory.is_dir():
        return _check_files(Snapshot(model, directory.resolve(), "local"))
    if not _REPO_ID.match(model):
        raise ModelUnavailable(
            f"{model!r} is neither an existing directory nor a Hub repo id like "
            f"'briaai/RMBG-2.0'. Set RMBG_MODEL (or --model) to one of them."
        )
    try:
        path = snapshot_download(model, revision=revision, cache_dir=cache_dir, local_files_only=True)
        return _check_files(Snapshot(model, Path(path), Path(path).name))
    except LocalEntryNotFoundError:
        if offline:
            raise ModelUnavailable(
                f"Model {model} is not in the cache at {cache_dir} and downloads are off "
                f"(HF_HUB_OFFLINE). {_fix_hint(model)}"
            ) from None
    return download_snapshot(model, revision=revision, cache_dir=cache_dir, token=token)


def download_snapshot(
    model: str, *, revision: str | None, cache_dir: Path, token: str | None = None
) -> Snapshot:
    """Download (or complete) a snapshot of ``model`` into ``cache_dir``.

    Raises:
        ModelUnavailable: gated without access, unknown repo or revision, or no network.
    """
    log.info("Downloading %s into %s", model, cache_dir)
    try:
        path = snapshot_download(
            model,
            revision=revision,
            cache_dir=cache_dir,
            allow_patterns=DOWNLOAD_PATTERNS,
            token=token,
        )
    except GatedRepoError:
        raise ModelUnavailable(
            f"{model} is gated and this token has no access (or no HF_TOKEN is set). {_fix_hint(model)}"
        ) from None
    except RepositoryNotFoundError:
        raise ModelUnavailable(
            f"{model} was not found on the Hub, or it is private and HF_TOKEN is missing "
            f"or wrong. {_fix_hint(model)}"
        ) from None
    except RevisionNotFoundError:
        raise ModelUnavailable(
            f"{model} has no revision {revision!r}. Unset RMBG_REVISION or name an "
            "existing branch, tag or commit."
        ) from None
    except (HfHubHTTPError, OSError) as exc:
        raise ModelUnavailable(
            f"Model {model} is not in the cache at {cache_dir} and could not be "
            f"downloaded ({type(exc).__name__}: {exc}). {_fix_hint(model)}"
        ) from None
    return _check_files(Snapshot(model, Path(path), Path(path).name))
