"""``sweepnet data``: list the data sets and download the ones that are not bundled.

Any data set plugin that declares a ``source`` (:class:`sweepnet.data.download.DownloadSource`)
can be downloaded, third-party ones included.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sweepnet.data.download import DownloadSource
    from sweepnet.registry import Registry

__all__ = ["downloadable", "register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sweepnet data list`` and ``sweepnet data download NAME``."""
    from sweepnet.data.download import MIRROR_ENV

    parser = subparsers.add_parser(
        "data",
        help="list and download data sets",
        description="List the data sets and download the ones that are not bundled.",
    )
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="data home (default: $SWEEPNET_DATA, else ~/.sweepnet/data)"
    )

    listing = actions.add_parser("list", parents=[data_dir], help="show each data set and whether it is present")
    listing.set_defaults(run=_list)

    fetch = actions.add_parser("download", parents=[data_dir], help="download, verify and unpack a data set")
    fetch.add_argument(
        "name", metavar="NAME", help="a data set that is downloaded, e.g. cifar10 (see: sweepnet data list)"
    )
    fetch.add_argument(
        "--mirror",
        metavar="URL",
        help=f"base URL to download every file from instead of the official ones (default: ${MIRROR_ENV})",
    )
    fetch.add_argument("--force", action="store_true", help="download again even if the data is present")
    fetch.set_defaults(run=_download)


def downloadable(registry: Registry) -> dict[str, DownloadSource]:
    """The data sets of ``registry`` that declare a download source, by name."""
    from sweepnet.data.download import DownloadSource

    return {c.name: c.obj.source for c in registry if isinstance(getattr(c.obj, "source", None), DownloadSource)}


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from sweepnet.data import resolve_data_home
    from sweepnet.data.download import download_command, missing_file
    from sweepnet.pluginmanager import get_registries
    from sweepnet.tables import print_table

    home = resolve_data_home(args.data_dir)
    registry = get_registries().datasets
    sources = downloadable(registry)
    table = Table(title=f"Data sets (data home: {home})")
    for column in ("name", "provider", "status", "location"):
        table.add_column(column)
    for component in registry:
        source = sources.get(component.name)
        if source is None:
            status, location = "ready", "bundled or generated, no download needed"
        elif missing_file(source, home) is None:
            status, location = "[green]present[/]", str(home / source.folder)
        else:
            status, location = "[red]missing[/]", download_command(component.name, home)
        table.add_row(component.name, component.provider, status, location)
    print_table(Console(), table)
    return 0


def _download(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TaskID

    from sweepnet.data import resolve_data_home
    from sweepnet.data.download import download, missing_file
    from sweepnet.errors import DataError
    from sweepnet.pluginmanager import get_registries

    sources = downloadable(get_registries().datasets)
    if args.name not in sources:
        raise DataError(f"cannot download {args.name!r}: the data sets that are downloaded are {', '.join(sources)}")
    source = sources[args.name]
    home = resolve_data_home(args.data_dir)
    if missing_file(source, home) is None and not args.force:
        print(f"{args.name} is already present in {home} (use --force to download it again)")
        return 0
    console = Console(stderr=True)
    columns = (*Progress.get_default_columns(), DownloadColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(file_name: str, done: int, total: int | None) -> None:
            if file_name not in tasks:
                tasks[file_name] = bar.add_task(file_name, total=total)
            bar.update(tasks[file_name], completed=done)

        path = download(args.name, source, home, mirror=args.mirror, force=args.force, progress=progress)
    print(f"{args.name}: downloaded to {path}")
    return 0
