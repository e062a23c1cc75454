"""Logic of the livepatch charm, without reactive decorators.

Each module has one job; reactive/livepatch.py and actions/ call into them.
Nothing at package level is imported eagerly: bootstrap.py must run under the
system Python before the charm's virtualenv (and charmhelpers) exists.
"""
