"""Operating-system errors as one line and an exit status: a path the user chose that
cannot be used is bad input (2); a full disk, a file-size limit or an I/O error is the
environment failing (74, ``EX_IOERR`` of sysexits).

Libraries wrap OS errors (orbax re-raises a checkpoint write's ``OSError`` inside its
own exceptions), so the chain of causes is searched for the ``OSError`` underneath.

Example:
    >>> import errno
    >>> status, message = describe(OSError(errno.ENOSPC, "No space left on device", "/runs/a/metrics.jsonl"))
    >>> status, message.split(";")[0]
    (74, "cannot write '/runs/a/metrics.jsonl': No space left on device (ENOSPC)")
    >>> describe(NotADirectoryError(errno.ENOTDIR, "Not a directory", "/etc/hosts/run"))
    (2, "cannot use '/etc/hosts/run': Not a directory (ENOTDIR)")
    >>> orbax = ValueError('OUT_OF_RANGE: Error writing local file "/r/checkpoints/100/x": Failed to write '
    ...                    "2071 bytes to file 18: File too large [os_error_code='27']")
    >>> describe(os_error_in(orbax))[1].split(";")[0]
    "cannot write '/r/checkpoints/100/x': File too large (EFBIG)"
"""

from __future__ import annotations

import errno
import os
import re

EX_IOERR = 74
"""Exit status of an environment failure while reading or writing (sysexits' ``EX_IOERR``)."""

# The environment, not the path, is at fault: retrying elsewhere or later can succeed.
_ENVIRONMENT = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO, errno.ENOMEM, errno.EMFILE, errno.ENFILE}


def os_error_in(err: BaseException) -> OSError | None:
    """``err`` itself or the first ``OSError`` among its causes (``__cause__`` / ``__context__``),
    or the one a C++ library reports in its message: tensorstore (orbax's checkpoint
    writes) says ``[os_error_code='27']``, HDF5 (h5py) ``errno = 27``."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError):
            return err
        reported = _reported(err)
        if reported is not None:
            return reported
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


_TENSORSTORE = re.compile(r"""os_error_code=['"]?(\d+)""")
_TENSORSTORE_PATH = re.compile(r"""(?:local file|Failed writing:?) ['"]([^'"]+)['"]""")
_HDF5 = re.compile(r"errno = (\d+)")
_HDF5_PATH = re.compile(r"filename = '([^']+)'")


def _reported(err: BaseException) -> OSError | None:
    if not isinstance(err, (ValueError, RuntimeError)):
        return None
    text = str(err)
    for code, path in ((_TENSORSTORE, _TENSORSTORE_PATH), (_HDF5, _HDF5_PATH)):
        found = code.search(text)
        if found and int(found[1]) in errno.errorcode:
            where = path.search(text)
            number = int(found[1])
            return OSError(number, os.strerror(number), where[1] if where else None)
    return None


def describe(err: OSError) -> tuple[int, str]:
    """``(exit status, one-line message naming the path and the reason)``."""
    code = err.errno
    name = errno.errorcode.get(code, "") if code is not None else ""
    reason = err.strerror or (str(err).splitlines()[0] if str(err) else type(err).__name__)
    reason = " ".join(f"{reason} ({name})".split()) if name else " ".join(reason.split())
    environment = code in _ENVIRONMENT
    path = err.filename if err.filename is not None else None
    what = f"{'write' if environment else 'use'} {str(path)!r}" if path is not None else "read or write a file"
    message = f"cannot {what}: {reason}"
    if environment:
        message += "; free space or raise the limit, then run the command again to resume"
    return (EX_IOERR if environment else 2), message
