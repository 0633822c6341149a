"""``controlplane api``: serve the admin API on its own, or write its OpenAPI document or CRD.

``api serve`` runs the API over a database without a control loop (dry-run
answers 503); inside the controller, ``controlplane run`` serves it on
``api.port``. ``api openapi`` writes the document committed as ``openapi.json``;
``api crd`` the manifest committed as ``serving/crd/scalingpolicy.yaml``.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("api", help="serve the admin API alone, or write its OpenAPI document")
    api_sub = p.add_subparsers(dest="api_command", required=True)
    s = api_sub.add_parser("serve", help="serve the admin API over a database (no control loop)")
    s.add_argument("--db", default="controlplane.db", help="SQLite database file or postgresql:// URL")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--tokens-file", help="static tokens: one 'token role subject' per line")
    s.add_argument("--jwt-hs256-secret-file")
    s.add_argument("--jwt-rs256-public-key-file")
    s.add_argument("--whatif-dir", help="directory of traces a what-if may name")
    s.add_argument("--rate-per-s", type=float, default=10.0, help="sustained requests/s per token")
    s.add_argument("--rate-burst", type=int, default=40, help="requests a token may send at once")
    s.set_defaults(func=_serve)
    o = api_sub.add_parser("openapi", help="write the OpenAPI document")
    o.add_argument("-o", "--output", default="-", help="file to write; - for stdout")
    o.set_defaults(func=_openapi)
    c = api_sub.add_parser("crd", help="write the ScalingPolicy CustomResourceDefinition")
    c.add_argument("-o", "--output", default="-", help="file to write; - for stdout")
    c.set_defaults(func=_crd)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from controlplane.api import ApiOptions, create_app
    from controlplane.store import Database

    options = ApiOptions(
        tokens_file=args.tokens_file,
        jwt_hs256_secret_file=args.jwt_hs256_secret_file,
        jwt_rs256_public_key_file=args.jwt_rs256_public_key_file,
        whatif_dir=args.whatif_dir,
        rate_per_s=args.rate_per_s,
        rate_burst=args.rate_burst,
    )
    if not (options.tokens_file or options.jwt_hs256_secret_file or options.jwt_rs256_public_key_file):
        raise ValueError("--tokens-file: give at least one credential source, or every request is refused")
    db = Database(args.db)
    try:
        uvicorn.run(create_app(options, db), host=args.host, port=args.port, log_level="warning")
    finally:
        db.close()
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from controlplane.api.openapi import openapi_document, render

    return _write(args.output, render(openapi_document()))


def _crd(args: argparse.Namespace) -> int:
    from controlplane.crd import render_crd

    return _write(args.output, render_crd())


def _write(output: str, text: str) -> int:
    import sys
    from pathlib import Path

    if output == "-":
        sys.stdout.write(text)
    else:
        Path(output).write_text(text)
    return 0
