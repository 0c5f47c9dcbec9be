"""What a run produced: the table (metric, ours, reference, ratio, target, met?), its Markdown
with the notes and the scaling table, and the check that every figure is there and no run had
errors (check_complete, what smoke mode insists on)."""

from __future__ import annotations

import re
import statistics

from common import CORES, MIB
from repairs import REPAIR_BURST
from wrk import WRK_CONNECTIONS, WRK_THREADS


def ms(seconds):
    return None if seconds is None else seconds * 1000


def fmt(value, unit="", digits=2):
    if value is None:
        return "missing"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if isinstance(value, int) and not unit:
        return str(value)
    return f"{value:,.{digits}f}{(' ' + unit) if unit else ''}"


def ratio(ours, reference):
    if ours is None or reference in (None, 0):
        return None
    return ours / reference


# MARK: - The table


def build_rows(figures: dict) -> list[dict]:
    """The table: metric, ours, reference, ratio, target, met."""
    rows = []
    wrk = figures["serving"]["wrk"]
    labels = {"healthz": "GET /healthz", "kubeconfig": "GET /kubeconfig, auth off",
              "kubeconfig_auth": "GET /kubeconfig, auth on (cached)"}
    for case, label in labels.items():
        ours, nginx = wrk[case]["ours"], wrk[case]["nginx"]
        r = ratio(ours["requests_per_second"], nginx["requests_per_second"])
        rows.append({"metric": f"{label}: requests/s", "ours": fmt(ours["requests_per_second"], "req/s"),
                     "reference": fmt(nginx["requests_per_second"], "req/s") + " (nginx)",
                     "ratio": r, "target": "≥ 0.8× nginx", "met": r is not None and r >= 0.8})
        if "nginx_logged" in wrk[case]:
            logged = wrk[case]["nginx_logged"]
            r = ratio(ours["requests_per_second"], logged["requests_per_second"])
            rows.append({"metric": f"{label}: requests/s, next to nginx logging it",
                         "ours": fmt(ours["requests_per_second"], "req/s"),
                         "reference": fmt(logged["requests_per_second"], "req/s") + " (nginx, access log on)",
                         "ratio": r, "target": "≥ 1× nginx logging", "met": r is not None and r >= 1})
            ours_cpu, logged_cpu = ours.get("server_cpu_us_per_request"), logged.get("server_cpu_us_per_request")
            r = ratio(ours_cpu, logged_cpu)
            rows.append({"metric": f"{label}: CPU per request, next to nginx logging it",
                         "ours": fmt(ours_cpu, "µs", 1), "reference": fmt(logged_cpu, "µs", 1) + " (nginx, access log on)",
                         "ratio": r, "target": "≤ 1× nginx logging", "met": r is not None and r <= 1})
        rows.append({"metric": f"{label}: p99 latency", "ours": fmt(ours["p99_ms"], "ms", 3),
                     "reference": fmt(nginx["p99_ms"], "ms", 3) + " (nginx)",
                     "ratio": ratio(ours["p99_ms"], nginx["p99_ms"]), "target": "< 2 ms", "met": ours["p99_ms"] < 2})
        rows.append({"metric": f"{label}: errors (non-2xx + socket)",
                     "ours": f"{ours['errors']} ({ours['non_2xx']} + {ours['socket_errors']})",
                     "reference": f"{nginx['errors']} (nginx)", "ratio": None, "target": "0",
                     "met": ours["errors"] == 0})
    publication = figures["publication"]
    runs = len(publication["ours"]["wall_s"])
    r = ratio(publication["ours"]["median_wall_s"], publication["python"]["median_wall_s"])
    rows.append({"metric": f"publish: wall time (median of {runs})", "ours": fmt(ms(publication["ours"]["median_wall_s"]), "ms", 1),
                 "reference": fmt(ms(publication["python"]["median_wall_s"]), "ms", 1) + " (python)",
                 "ratio": r, "target": "≤ 0.1× python", "met": r is not None and r <= 0.1})
    r = ratio(publication["ours"]["peak_rss_bytes_max"], publication["python"]["peak_rss_bytes_max"])
    rows.append({"metric": "publish: peak RSS", "ours": fmt(publication["ours"]["peak_rss_bytes_max"] / MIB, "MiB", 1),
                 "reference": fmt(publication["python"]["peak_rss_bytes_max"] / MIB, "MiB", 1) + " (python)",
                 "ratio": r, "target": "≤ 1/3 python", "met": r is not None and r <= 1 / 3})
    startup = figures["startup"]
    ready_ms = ms(startup["median_ready_s"])
    rows.append({"metric": f"start to /healthz 200, first publication included (median of {len(startup['ready_s'])})",
                 "ours": fmt(ready_ms, "ms", 1), "reference": "—", "ratio": None, "target": "< 100 ms",
                 "met": ready_ms < 100})
    footprint = figures["serving"]["footprint"]
    for key, label, limit in [("idle_rss_bytes", "serve RSS, idle after start-up", 16),
                              ("after_load_rss_bytes", "serve RSS, after the load", 24)]:
        value = footprint[key] / MIB
        nginx_key = "nginx_idle_rss_bytes" if key.startswith("idle") else "nginx_after_load_rss_bytes"
        split = footprint[key.replace("_rss_bytes", "_rss_split_bytes")]
        rows.append({"metric": f"{label} (auth off)",
                     "ours": fmt(value, "MiB", 1) + f" (anon {split['anon'] / MIB:.1f}, file {split['file'] / MIB:.1f})",
                     "reference": fmt(footprint[nginx_key] / MIB, "MiB", 1) + f" (nginx, master + {CORES} workers)",
                     "ratio": ratio(footprint[key], footprint[nginx_key]), "target": f"< {limit} MiB",
                     "met": value < limit})
    value = footprint["after_load_rss_bytes_auth_on"] / MIB
    rows.append({"metric": "serve RSS, after the load (auth on)", "ours": fmt(value, "MiB", 1), "reference": "—",
                 "ratio": None, "target": "< 24 MiB", "met": value < 24})
    rows += watch_rows(figures)
    rows += issuance_rows(figures)
    rows += bootstrap_renewal_rows(figures)
    rows += scaling_rows(figures)
    rows.append({"metric": "release binary size", "ours": fmt(figures["binary"]["size_bytes"] / MIB, "MiB", 1),
                 "reference": "—", "ratio": None, "target": "—", "met": None})
    return rows


def watch_rows(figures: dict) -> list[dict]:
    """Repairs of our entry and propagation of another writer's change, as our watch and GET /kubeconfig saw them."""
    rows = []
    for part, label in [("repair", "repair after another writer changed our server"),
                        ("propagation", "another writer's new site served by GET /kubeconfig")]:
        figures_part = figures[part]
        count = len(figures_part["latency_s"])
        for stat, limit in [("median", 200), ("p99", 1000)]:
            value = ms(figures_part[f"{stat}_s"])
            rows.append({"metric": f"{label}: {stat} of {count}", "ours": fmt(value, "ms", 1), "reference": "—",
                         "ratio": None, "target": f"< {limit:,} ms", "met": value < limit})
    sizes = figures["scaling"]["sizes"]
    large = sizes[max(sizes, key=int)]
    for key, label in [("repair_s", "repair after another writer changed our server"),
                       ("propagation_s", "another writer's new site served by GET /kubeconfig")]:
        values = large["latency"][key]
        slowest = ms(max(values))
        rows.append({"metric": f"{label}, {large['sites']} sites: slowest of {len(values)}", "ours": fmt(slowest, "ms", 1),
                     "reference": "—", "ratio": None, "target": "< 1,000 ms (the p99's)", "met": slowest < 1000})
    repair, propagation = figures["repair"], figures["propagation"]
    at_sizes = sum(r["latency"]["extra_writes"] for r in sizes.values())
    edits_at_sizes = sum(len(r["latency"]["repair_s"]) for r in sizes.values())
    extra = repair["extra_writes"] + propagation["service_writes"]["succeeded"] + at_sizes
    rows.append({"metric": f"repair loops: the service's writes beyond one per edit of our entry "
                           f"({repair['edits'] + edits_at_sizes} edits of it, "
                           f"{propagation['additions'] + edits_at_sizes} additions of other sites)",
                 "ours": f"{extra} ({repair['service_writes']['succeeded']} writes for {repair['edits']} edits and "
                         f"{propagation['service_writes']['succeeded']} for {propagation['additions']} additions "
                         f"at 11 to {11 + propagation['additions']} sites; {at_sizes} extra at "
                         f"{', '.join(sorted(sizes, key=int))} sites)",
                 "reference": "—", "ratio": None, "target": "0", "met": extra == 0})
    return rows


def issuance_rows(figures: dict) -> list[dict]:
    """A caller's token of one site (POST /sites/NAME/token), next to the TokenRequest itself."""
    issuance = figures["issuance"]
    direct = issuance["direct_token_request"]
    rows = []
    for site, label in [("central", "the central site"), ("edge-1", "a managed site")]:
        figures_site = issuance[site]
        for stat in ("median", "p99"):
            rows.append({"metric": f"POST /sites/NAME/token, {label}: {stat} of {len(figures_site['latency_s'])}",
                         "ours": fmt(ms(figures_site[f"{stat}_s"]), "ms", 2),
                         "reference": fmt(ms(direct[f"{stat}_s"]), "ms", 2) + " (the TokenRequest alone)",
                         "ratio": ratio(figures_site[f"{stat}_s"], direct[f"{stat}_s"]), "target": "—", "met": None})
    return rows


def bootstrap_renewal_rows(figures: dict) -> list[dict]:
    """A site's bootstrap credential renewed by the service: when in its life, and how long."""
    renewal = figures["bootstrap_renewal"]
    count = renewal["renewals"]
    rows = [{"metric": f"bootstrap renewal, TokenRequest at the site to the Secret written: {stat} of {count}",
             "ours": fmt(ms(renewal[f"{stat}_s"]), "ms", 1), "reference": "—", "ratio": None, "target": "—",
             "met": None} for stat in ("median", "p99")]
    share = f"{renewal['share_min'] * 100:.0f}-{renewal['share_max'] * 100:.0f} %"
    rows.append({"metric": f"bootstrap renewal, when in a {renewal['lifetime_s']} s life (min-max)",
                 "ours": share, "reference": "—", "ratio": None, "target": "75-80 %",
                 "met": renewal["share_min"] >= 0.7 and renewal["share_max"] <= 0.85})
    return rows


def scaling_rows(figures: dict) -> list[dict]:
    """The ratios of the largest document to the smallest; the sizes themselves are in their own table."""
    sizes = figures["scaling"]["sizes"]
    small, large = sizes[min(sizes, key=int)], sizes[max(sizes, key=int)]
    rows = []
    for key, label in [("wall_s", "wall time"), ("cpu_s", "CPU (user + sys)")]:
        r = ratio(large[f"publish_median_{key}"], small[f"publish_median_{key}"])
        rows.append({"metric": f"publish, {large['sites']} sites / {small['sites']} site: {label}",
                     "ours": f"{fmt(ms(large[f'publish_median_{key}']), 'ms', 1)} / {fmt(ms(small[f'publish_median_{key}']), 'ms', 1)}",
                     "reference": "—", "ratio": r, "target": "< 3×", "met": r is not None and r < 3})
    for case, label in [("kubeconfig", "GET /kubeconfig"), ("site", "GET /kubeconfig?site=central")]:
        ours, nginx = large["wrk"][case]["ours"], large["wrk"][case]["nginx"]
        r = ratio(ours["requests_per_second"], nginx["requests_per_second"])
        rows.append({"metric": f"{label}, {large['sites']} sites: requests/s",
                     "ours": fmt(ours["requests_per_second"], "req/s"),
                     "reference": fmt(nginx["requests_per_second"], "req/s") + " (nginx)",
                     "ratio": r, "target": "≥ 0.8× nginx", "met": r is not None and r >= 0.8})
    return rows


# MARK: - Markdown


def scaling_table(figures: dict) -> list[str]:
    """One line per document size, then the growth per site."""
    scaling = figures["scaling"]
    lines = [
        "| Sites | Document | publish: wall | CPU | merge + serialise | peak RSS "
        "| GET /kubeconfig: req/s (nginx) | p99 | CPU/request (nginx) "
        "| ?site=central: req/s (nginx) | p99 | CPU/request (nginx) | serve RSS after load (anon; anon idle) "
        "| repair | propagation |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in sorted(scaling["sizes"], key=int):
        r = scaling["sizes"][size]
        cells = [size, f"{r['document_bytes'] / 1024:,.0f} KiB",
                 fmt(ms(r["publish_median_wall_s"]), "ms", 1), fmt(ms(r["publish_median_cpu_s"]), "ms", 1),
                 fmt(r["publish_median_local_ms"], "ms", 2), fmt(r["publish_median_peak_rss_bytes"] / MIB, "MiB", 1)]
        for case in ("kubeconfig", "site"):
            ours, nginx = r["wrk"][case]["ours"], r["wrk"][case]["nginx"]
            cells += [f"{ours['requests_per_second']:,.0f} ({nginx['requests_per_second']:,.0f})",
                      f"{ours['p99_ms']:.2f} ms ({nginx['p99_ms']:.2f})",
                      f"{ours['server_cpu_us_per_request']:,.0f} µs ({nginx['server_cpu_us_per_request']:,.0f})"]
        idle, split = r["idle_rss_split_bytes"], r["after_load_rss_split_bytes"]
        cells.append(f"{r['after_load_rss_bytes'] / MIB:.1f} MiB (anon {split['anon'] / MIB:.1f}; idle {idle['anon'] / MIB:.1f})")
        for key in ("repair_s", "propagation_s"):
            cells.append(", ".join(f"{value * 1000:.0f}" for value in r["latency"][key]) + " ms")
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    growth = scaling["growth_per_site"]

    def per_site(key, scale, unit, digits):
        value = growth.get(key)
        return "—" if value is None else f"{value * scale:+,.{digits}f} {unit}"

    lines.append(
        f"| per site (slope) | {per_site('document_bytes', 1 / 1024, 'KiB', 2)} | {per_site('publish_wall_ms', 1, 'ms', 3)} "
        f"| {per_site('publish_cpu_ms', 1, 'ms', 3)} | {per_site('local_ms', 1, 'ms', 3)} | "
        f"| | | {per_site('kubeconfig_cpu_us_per_request', 1, 'µs', 2)} "
        f"| | | {per_site('site_cpu_us_per_request', 1, 'µs', 3)} | {per_site('after_load_rss_bytes', 1 / 1024, 'KiB', 1)} "
        f"| {per_site('repair_ms', 1, 'ms', 2)} | {per_site('propagation_ms', 1, 'ms', 2)} |")
    return lines


def markdown(figures: dict, rows: list[dict]) -> str:
    meta = figures["meta"]
    lines = [
        f"# kubeconfig-service benchmark ({meta['mode']} mode)",
        "",
        f"{meta['date']} · {meta['machine']} · {CORES} cores · binary `{meta['binary']}` · "
        f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{meta['wrk_seconds']}s (after a {meta['wrk_warmup_seconds']} s warm-up) · "
        f"serve --threads default ({CORES}) · nginx worker_processes {CORES} · all on 127.0.0.1 · "
        f"load average {meta['loadavg_before']:.2f} before, {meta['loadavg_after']:.2f} after · "
        f"benchmark took {meta['elapsed_s']:.0f} s",
        "",
        "| Metric | kubeconfig-service | Reference | Ratio | Target | Met? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        r = "—" if row["ratio"] is None else f"{shown_ratio(row):}×"
        met = "—" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['metric']} | {row['ours']} | {row['reference']} | {r} | {row['target']} | {met} |")
    notes = [f"the API test server answered a request in {ms(figures['api_server']['median_request_s']):.1f} ms "
             "(median, GET of the ConfigMap on a kept-alive connection); a publication by the service makes two "
             "requests (GET + PATCH), the Python baseline one (PATCH)"]
    wrk = figures["serving"]["wrk"]
    cpu = "; ".join(
        f"{case} {wrk[case]['ours'].get('server_cpu_us_per_request', 0):.1f} vs {wrk[case]['nginx'].get('server_cpu_us_per_request', 0):.1f}"
        for case in wrk)
    notes.append(f"server CPU time per request in µs, ours vs nginx (noise-robust on a shared machine): {cpu}; "
                 f"wrk itself used {max(r['wrk_cpu_cores'] for c in wrk.values() for r in c.values()):.2f} cores at most")
    startup = figures["startup"]
    notes.append(f"start-up: the port accepted connections after {ms(startup['median_first_connection_s']):.1f} ms "
                 f"(median); the rest is the first publication")
    if not figures["publication"].get("same_document"):
        notes.append("the Python baseline wrote a different document from the service's")
    repair = figures["repair"]
    notes.append(f"repairs: each edit timed from the answer to the other writer's PUT to the MODIFIED event carrying "
                 f"our server back, on a watch of our own; {repair['services']} services in turn, {REPAIR_BURST} edits "
                 f"each, as the service holds back repairs beyond {REPAIR_BURST} a minute by design: one more edit was "
                 f"repaired after {', '.join(f'{ms(value):.0f} ms' for value in repair['held_back_latency_s']) or 'missing'}"
                 f" (counted among the writes, not the latencies)")
    propagation = figures["propagation"]
    notes.append(f"propagation: GET /kubeconfig polled every 2 ms with If-None-Match from the answer to the other "
                 f"writer's PUT; the document grew from 11 to {11 + propagation['additions']} sites, and both latencies grow "
                 f"with the document (the table below has them per size)")
    notes.append("tokens on request: one caller's requests one after another on a kept-alive connection; its "
                 "TokenReview and SubjectAccessReview are cached after the first, as in use; the reference is a "
                 "TokenRequest sent straight to the managed site's API test server (the central one is another "
                 "instance of the same server)")
    if meta["mode"] == "smoke":
        notes.append("smoke mode: short runs, the timings are not meaningful")
    if notes:
        lines += ["", *[f"Note: {note}." for note in notes]]
    scaling = figures["scaling"]
    lines += ["", f"Cost as the document grows: publish is the median of {meta['scaling_publish_runs']} runs after a "
                  f"warm-up into the ConfigMap holding the other sites (CPU from wait4, peak RSS from /usr/bin/time; "
                  f"merge + serialise is the service's logged `local_ms`); serving is `serve --auth none "
                  f"--site-probe-interval 0 --refresh-interval 0`, wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} "
                  f"-d{meta['scaling_wrk_seconds']}s, next to nginx serving the same bytes; then "
                  f"{meta['scaling_latency_samples']} repair(s) and propagation(s) timed as above, on the same "
                  f"document.", "", *scaling_table(figures)]
    growth = growth_below_and_above(scaling)
    if growth:
        sites = sorted(int(size) for size in scaling["sizes"])
        lines += ["", f"Note: cost per added site from {sites[0]} to {sites[-2]} sites, then from {sites[-2]} to "
                      f"{sites[-1]} (medians; faster than linearly where the second is over twice the first): "
                      + "; ".join(growth) + "."]
    return "\n".join(lines) + "\n"


def shown_ratio(row: dict) -> str:
    """The ratio to two decimals, or three where two would round it onto the target it missed
    (0.7996 against ≥ 0.8×)."""
    text = f"{row['ratio']:.2f}"
    threshold = re.search(r"(\d+(?:\.\d+)?)×", row["target"])
    if row["met"] is False and threshold and float(text) == float(threshold.group(1)):
        text = f"{row['ratio']:.3f}"
    return text


def growth_below_and_above(scaling: dict) -> list[str]:
    """Each figure's cost per added site from the smallest size to the second largest, and from
    there to the largest; "faster than linearly" where the second is more than twice the first
    (a quadratic cost gives 3.5× over 1, 100 and 250 sites, a linear one 1×). The sizes in between
    are left out: at 10 sites the steps are small next to the noise of a shared machine."""
    sizes = sorted(scaling["sizes"].values(), key=lambda r: r["sites"])
    if len(sizes) < 3:
        return []
    small, middle, large = sizes[0], sizes[-2], sizes[-1]
    figures = {
        "publish wall time": (lambda r: r["publish_median_wall_s"] * 1000, "ms"),
        "publish CPU": (lambda r: r["publish_median_cpu_s"] * 1000, "ms"),
        "merge + serialise": (lambda r: r["publish_median_local_ms"], "ms"),
        "CPU per GET /kubeconfig": (lambda r: r["wrk"]["kubeconfig"]["ours"]["server_cpu_us_per_request"], "µs"),
        "repair": (lambda r: statistics.median(r["latency"]["repair_s"]) * 1000, "ms"),
        "propagation": (lambda r: statistics.median(r["latency"]["propagation_s"]) * 1000, "ms"),
    }
    found = []
    for label, (value, unit) in figures.items():
        below = (value(middle) - value(small)) / (middle["sites"] - small["sites"])
        above = (value(large) - value(middle)) / (large["sites"] - middle["sites"])
        verdict = " (**faster than linearly**)" if below > 0 and above > 2 * below else ""
        found.append(f"{label} {below:.3f} then {above:.3f} {unit}{verdict}")
    return found


# MARK: - The check


def check_complete(figures: dict) -> list[str]:
    """What smoke mode (and CI) insists on: every figure present, zero errors."""
    problems = []
    for case, servers in figures["serving"]["wrk"].items():
        for server, result in servers.items():
            if result["requests"] <= 0:
                problems.append(f"{case}/{server}: no request completed")
            if result["errors"]:
                problems.append(f"{case}/{server}: {result['errors']} errors ({result['non_2xx']} non-2xx, "
                                f"{result['socket_errors']} socket)")
    for name in ("ours", "python"):
        if not figures["publication"][name]["wall_s"]:
            problems.append(f"publication/{name}: no run")
    if not figures["startup"]["ready_s"]:
        problems.append("startup: no run")
    meta = figures["meta"]
    repair, propagation = figures.get("repair"), figures.get("propagation")
    if not repair or len(repair["latency_s"]) != meta["repair_edits"] or not repair["held_back_latency_s"]:
        problems.append("repair: latencies missing")
    if not propagation or len(propagation["latency_s"]) != meta["propagation_additions"]:
        problems.append("propagation: latencies missing")
    if repair and repair.get("extra_writes") is None or propagation and propagation.get("service_writes") is None:
        problems.append("repair loops: the service's writes were not counted")
    issuance = figures.get("issuance") or {}
    for part in ("central", "edge-1", "direct_token_request"):
        if len((issuance.get(part) or {}).get("latency_s", [])) != meta["issuance_samples"]:
            problems.append(f"issuance/{part}: latencies missing")
    sizes = (figures.get("scaling") or {}).get("sizes", {})
    for size in meta["scaling_sites"]:
        result = sizes.get(str(size))
        if not result:
            problems.append(f"scaling/{size} sites: no figures")
            continue
        if len(result["publish_runs"]) != meta["scaling_publish_runs"]:
            problems.append(f"scaling/{size} sites: publish runs missing")
        if result["document_bytes"] >= MIB:
            problems.append(f"scaling/{size} sites: the document ({result['document_bytes']} bytes) is over 1 MiB")
        for case, servers in result.get("wrk", {}).items():
            for server, run in servers.items():
                if run["requests"] <= 0:
                    problems.append(f"scaling/{size} sites/{case}/{server}: no request completed")
                if run["errors"]:
                    problems.append(f"scaling/{size} sites/{case}/{server}: {run['errors']} errors")
        if len(result.get("wrk", {})) != 2 or result.get("after_load_rss_bytes") is None:
            problems.append(f"scaling/{size} sites: serving figures missing")
        latency = result.get("latency") or {}
        if any(len(latency.get(key, [])) != meta["scaling_latency_samples"] for key in ("repair_s", "propagation_s")):
            problems.append(f"scaling/{size} sites: repair or propagation latencies missing")
    return problems
