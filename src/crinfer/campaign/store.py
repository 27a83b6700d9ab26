"""The on-disk campaign dataset: a directory of checksummed chunk files.

Layout (see ``docs/campaigns.md``)::

    <out>/manifest.json        recipe text and fingerprint, sizes, versions, git commit, time
    <out>/design.npy           (n_points, P) design in physical units
    <out>/chunks/c000003.npz   theta, x, key, row, point, realisation of chunk 3
    <out>/chunks/c000003.json  its commit record: sha256 of the .npz, rows, timings

Every file is written to a temporary name, fsynced and renamed into place, and a chunk's
record is written only after its ``.npz``: a chunk counts as done only when its record
exists and the ``.npz`` matches the record's sha256. A process killed at any instant
leaves at worst a temporary file or an unrecorded ``.npz``; both are redone on resume.
The ``.npz`` files are written byte-deterministically (fixed zip timestamps, no
compression), so a recomputed chunk has the same checksum as the original.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import platform
import secrets
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import CampaignError, Observable
from .recipe import Recipe

FORMAT = "crinfer.campaign/1"
MANIFEST = "manifest.json"
DESIGN = "design.npy"
CHUNKS = "chunks"
CHUNK_ARRAYS = ("theta", "x", "key", "row", "point", "realisation")
_TMP_MARK = ".tmp-"


@dataclass
class CampaignStatus:
    """Progress and integrity of a store.

    ``missing`` chunks have no valid record yet (never written, or killed before their
    record); ``corrupt`` maps chunk index -> what is wrong with a recorded chunk
    (file missing, checksum mismatch, unreadable record). Both are recomputed on resume.
    """

    path: Path
    n_chunks: int
    n_rows: int
    done: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    corrupt: dict[int, str] = field(default_factory=dict)
    temp_files: list[str] = field(default_factory=list)
    rows_done: int = 0

    @property
    def complete(self) -> bool:
        return len(self.done) == self.n_chunks

    @property
    def todo(self) -> list[int]:
        """Chunks to (re)compute, in order."""
        return sorted(self.missing + list(self.corrupt))


class Store:
    """A campaign directory; open with :meth:`open` or :meth:`create_or_open`."""

    def __init__(self, path: Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest

    # -- opening ------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "Store":
        """Open an existing store; :class:`CampaignError` if ``path`` is not one."""
        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.is_file():
            raise CampaignError(f"{str(path)!r} is not a campaign store (no {MANIFEST})")
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CampaignError(f"cannot read {str(mpath)!r}: {exc}") from exc
        if manifest.get("format") != FORMAT:
            raise CampaignError(
                f"{str(mpath)!r} has format {manifest.get('format')!r}; this crinfer reads {FORMAT!r}"
            )
        return cls(path, manifest)

    @classmethod
    def create_or_open(cls, path: str | Path, recipe: Recipe, observable: Observable) -> "Store":
        """Open the store of ``recipe`` at ``path``, creating it if needed.

        Raises:
            CampaignError: ``path`` holds a store of a different recipe, or is a non-empty
                directory that is not a campaign store.
        """
        path = Path(path)
        if (path / MANIFEST).is_file():
            store = cls.open(path)
            have = store.manifest["fingerprint"]
            if have != recipe.fingerprint:
                raise CampaignError(
                    f"store {str(path)!r} was made by a different recipe (fingerprint {have[:12]}, "
                    f"this recipe {recipe.fingerprint[:12]}); use another output directory"
                )
            return store
        if path.exists():
            foreign = [p.name for p in path.iterdir()
                       if p.name not in (DESIGN, CHUNKS) and _TMP_MARK not in p.name]
            chunks = path / CHUNKS
            if chunks.is_dir():
                foreign += [f"{CHUNKS}/{p.name}" for p in chunks.iterdir() if _TMP_MARK not in p.name]
            if foreign:
                raise CampaignError(
                    f"{str(path)!r} is not empty and is not a campaign store (found {sorted(foreign)[:5]}); "
                    "choose an empty or new output directory"
                )
        design = recipe.design.points(recipe.params)
        (path / CHUNKS).mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.ascontiguousarray(design, dtype=np.float64), allow_pickle=False)
        _atomic_write(path / DESIGN, buf.getvalue())
        manifest = _manifest(recipe, observable, hashlib.sha256(buf.getvalue()).hexdigest())
        _atomic_write(path / MANIFEST, (json.dumps(manifest, indent=2, default=str) + "\n").encode())
        return cls(path, manifest)

    # -- sizes --------------------------------------------------------------
    @property
    def n_chunks(self) -> int:
        return self.manifest["n_chunks"]

    def chunk_rows(self, index: int) -> tuple[int, int]:
        """``[start, stop)`` global rows of chunk ``index``."""
        size, n = self.manifest["chunk_size"], self.manifest["n_rows"]
        return index * size, min((index + 1) * size, n)

    def design(self) -> np.ndarray:
        """The ``(n_points, P)`` design, checked against the manifest's sha256."""
        data = _read(self.path / DESIGN)
        if hashlib.sha256(data).hexdigest() != self.manifest["design_sha256"]:
            raise CampaignError(f"{str(self.path / DESIGN)!r} does not match its checksum in the manifest")
        return np.load(io.BytesIO(data), allow_pickle=False)

    # -- chunks -------------------------------------------------------------
    def _npz(self, index: int) -> Path:
        return self.path / CHUNKS / f"c{index:06d}.npz"

    def _record(self, index: int) -> Path:
        return self.path / CHUNKS / f"c{index:06d}.json"

    def write_chunk(self, index: int, arrays: dict, info: dict | None = None) -> dict:
        """Atomically write chunk ``index`` (arrays named :data:`CHUNK_ARRAYS`), then its record."""
        start, stop = self.chunk_rows(index)
        if sorted(arrays) != sorted(CHUNK_ARRAYS):
            raise CampaignError(f"chunk {index}: arrays must be {list(CHUNK_ARRAYS)}, got {sorted(arrays)}")
        if any(len(a) != stop - start for a in arrays.values()):
            raise CampaignError(f"chunk {index}: every array needs {stop - start} rows, got "
                                f"{ {k: len(v) for k, v in arrays.items()} }")
        data = _npz_bytes(arrays)
        _atomic_write(self._npz(index), data)
        record = {"chunk": index, "file": self._npz(index).name, "sha256": hashlib.sha256(data).hexdigest(),
                  "rows": [start, stop], "bytes": len(data), "written": _now(), **(info or {})}
        _atomic_write(self._record(index), (json.dumps(record, indent=1) + "\n").encode())
        return record

    def check_chunk(self, index: int, verify: bool = True) -> str | None:
        """``None`` if chunk ``index`` is done and intact, ``"missing"`` if it has no record,
        else a description of the problem. ``verify=False`` skips the sha256 (no file read)."""
        rpath = self._record(index)
        if not rpath.is_file():
            return "missing"
        try:
            record = json.loads(rpath.read_text())
            want = record["sha256"]
            rows = record["rows"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            return f"unreadable record {rpath.name}: {exc}"
        if list(rows) != list(self.chunk_rows(index)):
            return f"record says rows {rows}, expected {list(self.chunk_rows(index))}"
        if not self._npz(index).is_file():
            return f"{self._npz(index).name} is missing"
        have = _sha256_file(self._npz(index)) if verify else want
        if have != want:
            return f"sha256 of {self._npz(index).name} is {have[:12]}..., record says {want[:12]}..."
        return None

    def read_chunk(self, index: int, verify: bool = True) -> tuple[dict, dict]:
        """``(arrays, record)`` of a done chunk; :class:`CampaignError` if it is not intact."""
        if verify:
            problem = self.check_chunk(index)
            if problem:
                raise CampaignError(f"chunk {index} of {str(self.path)!r}: {problem}")
        record = json.loads(self._record(index).read_text())
        with np.load(self._npz(index), allow_pickle=False) as f:
            arrays = {k: f[k] for k in CHUNK_ARRAYS}
        return arrays, record

    def status(self, verify: bool = True) -> CampaignStatus:
        """Check every chunk; ``verify`` reads every file to check its sha256."""
        st = CampaignStatus(self.path, self.n_chunks, self.manifest["n_rows"])
        for i in range(self.n_chunks):
            problem = self.check_chunk(i, verify)
            if problem is None:
                st.done.append(i)
                start, stop = self.chunk_rows(i)
                st.rows_done += stop - start
            elif problem == "missing":
                st.missing.append(i)
            else:
                st.corrupt[i] = problem
        st.temp_files = sorted(str(p.relative_to(self.path)) for p in self._temp_files())
        return st

    def remove_temp_files(self) -> int:
        """Delete temporaries left by killed writers; returns how many. Do not call while
        another process writes to this store."""
        files = self._temp_files()
        for p in files:
            p.unlink(missing_ok=True)
        return len(files)

    def _temp_files(self) -> list[Path]:
        return [p for d in (self.path, self.path / CHUNKS) if d.is_dir()
                for p in d.iterdir() if _TMP_MARK in p.name]


# -- helpers ----------------------------------------------------------------
def _manifest(recipe: Recipe, observable: Observable, design_sha256: str) -> dict:
    import jax

    from .. import __version__

    return {
        "format": FORMAT,
        "fingerprint": recipe.fingerprint,
        "title": recipe.title,
        "simulator": recipe.simulator,
        "parameters": list(recipe.params.names),
        "units": list(recipe.params.units),
        "observable": {"name": observable.name, "shape": list(observable.shape), "unit": observable.unit},
        "x_dtype": "float64",
        "n_points": recipe.n_points,
        "realisations": recipe.realisations,
        "n_rows": recipe.n_rows,
        "chunk_size": recipe.chunk_size,
        "n_chunks": recipe.n_chunks,
        "design": recipe.design.to_dict(),
        "seed": recipe.seed,
        "key_scheme": "chunk c is simulated with jax.random.fold_in(jax.random.PRNGKey(seed), c)",
        "design_sha256": design_sha256,
        "recipe": recipe.data_dict(),
        "recipe_text": recipe.text,
        "crinfer_version": __version__,
        "git": _git_state(),
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "jax": jax.__version__},
        "host": platform.node(),
        "created": _now(),
    }


def _git_state() -> dict | None:
    """Commit and dirtiness of the crinfer source tree, or ``None`` outside a git checkout."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "src" / "crinfer").is_dir():  # an installed copy, not a source checkout
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def _npz_bytes(arrays: dict) -> bytes:
    """An uncompressed ``.npz`` with fixed timestamps: same arrays, same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            item = io.BytesIO()
            np.lib.format.write_array(item, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), item.getvalue())
    return buf.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary sibling, fsync, rename over ``path``, fsync the directory."""
    tmp = path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CampaignError(f"cannot read {str(path)!r}: {exc}") from exc


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
