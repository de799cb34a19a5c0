#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check a file against the OpenMetrics text format, strictly.

usage: openmetrics.py FILE

The ABNF of the OpenMetrics 1.0 specification, line by line, plus the
rules a parser enforces on top: every family has a TYPE before its
samples, its lines are contiguous and it appears once; sample names are
the family's name with the suffixes its type allows; a UNIT is the
family name's suffix; counters are not negative; a stateset's samples
carry a label named after the family and are 0 or 1; no two samples of
a family have the same name and labels; the text ends with "# EOF\\n".
When prometheus_client is installed, its OpenMetrics parser must accept
the text too. Exit 0 when valid; else the first problem and exit 1.
"""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABELS = r"\{(?:%s=%s(?:,%s=%s)*)?\}" % (LABEL, VALUE, LABEL, VALUE)
NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?|[Ii]nf|[Ii]nfinity|NaN)"
SAMPLE = re.compile(r"^(%s)(%s)? (%s)(?: (%s))?$" % (NAME, LABELS, NUMBER, NUMBER))
META = re.compile(r"^# (TYPE|UNIT|HELP) (%s)(?: (.*))?$" % NAME)
TYPES = {"counter": ("_total", "_created"), "gauge": ("",), "stateset": ("",),
         "info": ("_info",), "unknown": ("",), "histogram": ("_bucket", "_count", "_sum", "_created"),
         "gaugehistogram": ("_gcount", "_gsum", "_bucket"), "summary": ("", "_count", "_sum", "_created")}


class Bad(Exception):
    pass


def labels_of(text):
    out = []
    for m in re.finditer(r"(%s)=(%s)" % (LABEL, VALUE), text or ""):
        out.append((m.group(1), m.group(2)))
    names = [n for n, _ in out]
    if len(names) != len(set(names)):
        raise Bad("a label is repeated")
    return tuple(sorted(out))


def check(text):
    if not text.endswith("# EOF\n"):
        raise Bad('the text does not end with "# EOF" and a newline')
    lines = text[:-1].split("\n")
    seen, fam, ftype, samples = set(), None, None, set()
    for no, line in enumerate(lines, 1):
        where = "line %d: %r" % (no, line)
        if line == "# EOF":
            if no != len(lines):
                raise Bad("%s: text after # EOF" % where)
            break
        m = META.match(line)
        if m:
            kind, name, rest = m.groups()
            if name != fam:
                if name in seen:
                    raise Bad("%s: family %s appears twice" % (where, name))
                seen.add(name)
                fam, ftype, metas = name, None, set()
            if kind in metas:
                raise Bad("%s: a second %s" % (where, kind))
            metas.add(kind)
            if kind == "TYPE":
                if rest not in TYPES:
                    raise Bad("%s: unknown type" % where)
                ftype = rest
            elif kind == "UNIT":
                if not rest or not re.fullmatch(r"[a-zA-Z0-9_:]+", rest) or not name.endswith("_" + rest):
                    raise Bad("%s: the unit must be the family name's suffix" % where)
            elif rest is None or re.search(r'\\[^\\"n]', rest):
                raise Bad("%s: bad HELP text" % where)
            continue
        if line.startswith("#"):
            raise Bad("%s: not a TYPE, UNIT or HELP line" % where)
        m = SAMPLE.match(line)
        if not m:
            raise Bad("%s: not a sample line" % where)
        name, labels, value, _ = m.groups()
        if fam is None or ftype is None:
            raise Bad("%s: a sample before its family's TYPE" % where)
        if not any(name == fam + s for s in TYPES[ftype]):
            raise Bad("%s: %s is not a sample name of the %s %s" % (where, name, ftype, fam))
        v = float(value)
        lab = labels_of(labels)
        if ftype == "counter" and (v < 0 or math.isnan(v)):
            raise Bad("%s: a negative counter" % where)
        if ftype == "stateset":
            if fam not in dict(lab):
                raise Bad("%s: a stateset sample without the %s label" % (where, fam))
            if v not in (0, 1):
                raise Bad("%s: a stateset value is 0 or 1" % where)
        if (name, lab) in samples:
            raise Bad("%s: the same sample twice" % where)
        samples.add((name, lab))


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    try:
        check(text)
    except Bad as e:
        print("openmetrics: %s: %s" % (sys.argv[1], e))
        return 1
    try:
        sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-prometheus-client
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    except ImportError:
        print("openmetrics: %s: valid (prometheus_client not installed: own checks only)" % sys.argv[1])
        return 0
    try:
        n = len(list(text_string_to_metric_families(text)))
    except Exception as e:  # the parser raises ValueError and friends
        print("openmetrics: %s: prometheus_client rejects it: %s" % (sys.argv[1], e))
        return 1
    print("openmetrics: %s: valid, %d families (and prometheus_client agrees)" % (sys.argv[1], n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
