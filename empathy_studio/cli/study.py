"""The study commands: ratings (export, import, agreement, quality), campaigns, annotators, releases, audit."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..services import COMMAND_LINE, EPITOME_MECHANISMS, CampaignRequest, ConfigError, ReleaseRequest
from .common import open_studio, print_json


def cmd_ratings(args: argparse.Namespace) -> int:
    """Export, import or measure agreement of ratings, or each rater's quality with its flags.
    Example: empathy-studio ratings export --format csv --out ratings.csv"""
    studio = open_studio(args)
    if args.action == "quality":
        if not args.campaign:
            raise ConfigError("quality needs --campaign NAME")
        report = studio.rater_quality(COMMAND_LINE, args.campaign)
        if args.json:
            print_json(report)
        else:
            for r in report["raters"]:
                print(
                    f"{r['annotator']:<20} {r['items']:>5} items  median {r['median_seconds'] or 0:6.1f} s  run {r['longest_run']:>3}  "
                    f"spread {r['spread']:.2f}  {'; '.join(r['flags']) or 'no flags'}"
                )
        return 0
    if args.action == "export":
        if not args.out:
            raise ConfigError("export needs --out PATH")
        n = studio.export_ratings(args.out, args.format, args.hub_repo, args.campaign, args.with_text)
        print(f"exported {n} ratings to {args.out}", file=sys.stderr)
    elif args.action == "import":
        if not args.file:
            raise ConfigError("import needs --file PATH (CSV or JSONL)")
        report = studio.import_ratings(args.file, dry_run=args.dry_run, create_annotators=args.create_annotators)
        if args.json:
            print_json(report)
        else:
            print(f"{report['rows']} rows: {report['ok']} ok, {len(report['rejected'])} rejected, {report['written']} written")
            for r in report["rejected"][:20]:
                print(f"  row {r['row']}: {r['reason']}")
    else:
        if args.guideline_version is not None and not args.campaign:
            raise ConfigError("--guideline-version filters one campaign's ratings: add --campaign NAME")
        report = (
            studio.campaign_agreement(COMMAND_LINE, args.campaign, args.model, args.n_boot, args.guideline_version)
            if args.campaign
            else studio.agreement(model=args.model, n_boot=args.n_boot)
        )
        if args.json:
            print_json(report)
        elif report["kind"] == "empathy":
            for m in EPITOME_MECHANISMS:
                b = report[m]
                print(
                    f"{m}: alpha ordinal {b['alpha_ordinal']}, nominal {b['alpha_nominal']}, pairwise QWK mean {b['qwk']['mean']} "
                    f"({b['qwk']['pairs']} pairs)"
                )
        else:
            for t in ("initial", "final"):
                b = report[t]
                print(
                    f"{t}: alpha interval {b['alpha_interval']}, ordinal {b['alpha_ordinal']}, ICC(2,1) {b['icc2_1']}, ICC(2,k) "
                    f"{b['icc2_k']}"
                )
    return 0


def cmd_campaigns(args: argparse.Namespace) -> int:
    """Create, list, close or reopen rating campaigns (intensity of dialogues, or empathy of responses).
    Example: empathy-studio campaigns create --name pilot --kind empathy --source file --file pairs.csv --k 2"""
    studio = open_studio(args)
    if args.action == "create":
        if not args.name:
            raise ConfigError("create needs --name")
        req = CampaignRequest(
            name=args.name,
            kind=args.kind,
            k=args.k,
            source=args.source,
            split=args.split,
            emotion=args.emotion,
            ids=args.ids or "",
            file=args.file,
            limit=args.limit,
            blind=not args.assisted,
            guidelines=args.guidelines or "",
            calibration=args.calibration,
            gold_rate=args.gold_rate,
            overlap=args.overlap,
            subset=args.subset,
            **({"scales": args.scales.split(",")} if args.scales else {}),
        )
        studio.create_campaign(COMMAND_LINE, req)
        print(f"campaign {req.name} created ({req.kind})", file=sys.stderr)
    elif args.action in ("close", "reopen"):
        if not args.name:
            raise ConfigError(f"{args.action} needs --name")
        studio.set_campaign_active(COMMAND_LINE, args.name, args.action == "reopen")
    rows = studio.campaign_overview(COMMAND_LINE)
    if args.json:
        print_json(rows)
    elif args.action == "list":
        for r in rows:
            print(
                f"{r['name']:<24} {r['kind']:<9} k={r['k'] or '-':<3} {r['complete']}/{r['items']} complete, {r['ratings']} ratings"
                f"{'' if r['active'] else ' (closed)'}"
            )
    return 0


def cmd_annotators(args: argparse.Namespace) -> int:
    """Add or update a local account.  Example: empathy-studio annotators add --name ana --password s3cret --role admin"""
    a = open_studio(args).add_annotator(args.name, args.role, args.password)
    print(f"{a.name} ({a.role})")
    return 0


def cmd_releases(args: argparse.Namespace) -> int:
    """Freeze, list, show and export releases: versioned consensus labels of campaigns, with provenance and a dataset card.
    Example: empathy-studio releases create --name pilot-v1 --campaign pilot --method mace"""
    studio = open_studio(args)
    if args.action == "create":
        if not args.name or not args.campaign:
            raise ConfigError("create needs --name and at least one --campaign")
        rel = studio.create_release(COMMAND_LINE, ReleaseRequest(args.name, list(args.campaign), args.method))
        print(f"release {rel['id']} frozen: {rel['n_items']} items, hash {rel['content_hash']}", file=sys.stderr)
        rows: Any = rel
    elif args.action in ("show", "export"):
        if not args.id:
            raise ConfigError(f"{args.action} needs --id (see: empathy-studio releases list)")
        if args.action == "export":
            if not args.to:
                raise ConfigError("export needs --to file://FOLDER or a Hub dataset repo owner/name")
            print(studio.export_release(COMMAND_LINE, args.id, args.to))
            return 0
        rows = studio.release(COMMAND_LINE, args.id)
        if not args.json:
            print(rows["card"])
            return 0
    else:
        rows = studio.releases(COMMAND_LINE)
        if not args.json:
            for r in rows:
                print(
                    f"{r['id']:<40} {r['created'][:19]}  {r['method']:<13} {r['n_items']:>6} items  "
                    f"{', '.join(c['name'] + ' v' + str(c['guideline_version']) for c in r['campaigns'])}"
                    f"{'  supersedes ' + r['supersedes'] if r['supersedes'] else ''}"
                )
            return 0
    print_json(rows)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Read the append-only audit log (ratings made, changed and undone, adjudications, releases, campaign, guideline
    and role changes), newest first, or write all of it as CSV.  Example: empathy-studio audit --limit 20"""
    studio = open_studio(args)
    if args.csv:
        print(studio.audit_export(COMMAND_LINE))
        return 0
    rows = studio.audit_log(COMMAND_LINE, args.limit, args.action)
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['at'][:19]}  {r['actor'] or '-':<16} {r['action']:<18} {r['campaign'] or '':<16} {r['item_id'] or ''}")
    return 0


# ---------------------------------------------------------------------------
# the parser
