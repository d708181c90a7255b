"""Prints a SAM template expanded to plain CloudFormation JSON.

Uses cfn-lint's own decoder and its SAM transform (samtranslator), so the test
reads what `cfn-lint` and, in substance, `sam deploy` produce.

Usage: python3 expand.py TEMPLATE [Name=Value ...]  (parameter defaults overridden)
"""
import json
import sys

from cfnlint.decode import decode
from cfnlint.template.transforms._sam import Transform

path, overrides = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
template, matches = decode(path)
if matches:
    sys.exit("decode: %s" % matches)
for name, value in overrides.items():
    template["Parameters"][name]["Default"] = value
transform = Transform(path, template, "eu-west-1")
errors = transform.transform_template()
if errors:
    sys.exit("transform: %s" % errors)
json.dump(transform.template(), sys.stdout, default=str)
