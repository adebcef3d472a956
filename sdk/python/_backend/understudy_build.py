"""A PEP 517 build backend for this package, from the standard library.

The package is pure Python in src/understudy; a wheel is those files and
the metadata, zipped. Keeping the backend here means `pip install
--no-index` works with nothing installed but Python and pip: no
setuptools, no network. It reads what it needs from pyproject.toml's
[project] table (name, version, description, requires-python, license),
with a small parser for that flat table, so that it runs on Pythons
without tomllib.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")


def _project():
    """The [project] table's string values (and license.text)."""
    out = {}
    table = None
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            m = re.match(r"^\[([^\]]+)\]$", line)
            if m:
                table = m.group(1)
                continue
            if table != "project":
                continue
            m = re.match(r'^([A-Za-z_-]+)\s*=\s*"([^"]*)"\s*$', line)
            if m:
                out[m.group(1)] = m.group(2)
                continue
            m = re.match(r'^license\s*=\s*\{\s*text\s*=\s*"([^"]*)"\s*\}$', line)
            if m:
                out["license"] = m.group(1)
    for key in ("name", "version"):
        if key not in out:
            raise ValueError("pyproject.toml: [project] has no %s" % key)
    return out


def _metadata(p):
    lines = [
        "Metadata-Version: 2.1",
        "Name: %s" % p["name"],
        "Version: %s" % p["version"],
    ]
    if "description" in p:
        lines.append("Summary: %s" % p["description"])
    if "requires-python" in p:
        lines.append("Requires-Python: %s" % p["requires-python"])
    if "license" in p:
        lines.append("License: %s" % p["license"])
    lines.append("Classifier: Operating System :: POSIX :: Linux")
    body = ""
    readme = os.path.join(ROOT, "README.md")
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = f.read()
    return ("\n".join(lines) + "\n\n" + body).encode("utf-8")


def _dist_info(p):
    return "%s-%s.dist-info" % (p["name"], p["version"])


_WHEEL = b"Wheel-Version: 1.0\nGenerator: understudy_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _package_files():
    for dirpath, dirnames, filenames in os.walk(os.path.join(SRC, "understudy")):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py") or name == "py.typed":
                full = os.path.join(dirpath, name)
                yield full, os.path.relpath(full, SRC).replace(os.sep, "/")


def _write_wheel(wheel_directory, entries):
    """entries: (archive name, bytes). Adds the dist-info and RECORD."""
    p = _project()
    info = _dist_info(p)
    entries = list(entries) + [
        (info + "/METADATA", _metadata(p)),
        (info + "/WHEEL", _WHEEL),
    ]
    record = io.StringIO()
    name = "%s-%s-py3-none-any.whl" % (p["name"], p["version"])
    path = os.path.join(wheel_directory, name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in entries:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.write("%s,sha256=%s,%d\n" % (arc, digest, len(data)))
            z.writestr(zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0)), data)
        record.write("%s/RECORD,,\n" % info)
        z.writestr(zipfile.ZipInfo(info + "/RECORD", date_time=(2020, 1, 1, 0, 0, 0)), record.getvalue())
    return name


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    p = _project()
    info = os.path.join(metadata_directory, _dist_info(p))
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "wb") as f:
        f.write(_metadata(p))
    with open(os.path.join(info, "WHEEL"), "wb") as f:
        f.write(_WHEEL)
    return _dist_info(p)


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, ((arc, _read(full)) for full, arc in _package_files()))


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # A .pth file that puts src/ on the path: edits take effect at once.
    return _write_wheel(wheel_directory, [("understudy_editable.pth", (SRC + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    p = _project()
    base = "%s-%s" % (p["name"], p["version"])
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for dirpath, dirnames, filenames in os.walk(ROOT):
            dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "build", "dist") and not d.startswith("."))
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                rel = os.path.relpath(full, ROOT)
                ti = t.gettarinfo(full, arcname=base + "/" + rel.replace(os.sep, "/"))
                ti.mtime = int(time.time())
                with open(full, "rb") as f:
                    t.addfile(ti, f)
        pkg = ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (p["name"], p["version"])).encode()
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(pkg)
        ti.mtime = int(time.time())
        t.addfile(ti, io.BytesIO(pkg))
    return name
