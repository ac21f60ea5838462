#!/usr/bin/python3
"""Conformance checks of a RouterOS API server with Debian's python3-librouteros.

librouteros shares no code with go-routeros (which tether and its tests use),
so a wire-format mistake both Go sides agree on shows up here. Run against a
fresh rossim (defconf) or, read-only parts aside, a lab router:

    conformance.py HOST PORT USER PASSWORD

Prints one line per check ("ok NAME" or "FAIL NAME: why") and exits 1 if any
check failed. The checks follow test/rossim/CONFORMANCE.md.
"""

import sys

import librouteros
from librouteros.exceptions import MultiTrapError, TrapError
from librouteros.query import Key

HOST, PORT, USER, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
failures = []


def check(name):
    def wrap(fn):
        try:
            fn()
            print("ok", name)
        except Exception as e:  # a check reports, the run goes on
            failures.append(name)
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        return fn
    return wrap


def connect(user=USER, password=PASSWORD):
    return librouteros.connect(HOST, user, password, port=PORT, timeout=10)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def trap_of(fn):
    try:
        fn()
    except TrapError as e:
        return e
    raise AssertionError("no trap")


api = connect()


@check("login refused with the router's text")
def _():
    try:
        connect(USER, PASSWORD + "-wrong")
    except TrapError as e:
        expect(e.message == "invalid user name or password (6)", repr(e.message))
        return
    raise AssertionError("bad password accepted")


@check("print with .proplist and a query")
def _():
    rows = list(api.path("ip", "address").select(Key("address"), Key("interface")).where(Key("interface") == "bridge"))
    expect({"address": "192.168.88.1/24", "interface": "bridge"} in rows, rows)
    for r in rows:
        expect(set(r) <= {"address", "interface"}, "proplist ignored: %r" % r)


@check("empty print ends cleanly (!empty then !done)")
def _():
    expect(list(api("/interface/wireguard/print")) == [], "rows on an empty menu")


@check("add returns the new .id, set and remove use it")
def _():
    path = api.path("ip", "address")
    ret = list(api("/ip/address/add", address="10.55.0.1/24", interface="ether2", comment="conformance"))
    expect(len(ret) == 1 and str(ret[0].get("ret", "")).startswith("*"), ret)
    rid = ret[0]["ret"]
    list(api("/ip/address/set", **{".id": rid, "comment": "conformance set"}))
    rows = [r for r in path if r.get(".id") == rid]
    expect(len(rows) == 1 and rows[0]["comment"] == "conformance set", rows)
    expect(rows[0]["disabled"] is False and rows[0]["dynamic"] is False, "booleans not true/false: %r" % rows[0])
    list(api("/ip/address/remove", **{".id": rid}))
    expect(not [r for r in path if r.get(".id") == rid], "removed row still printed")


@check("a duplicate address is refused")
def _():
    e = trap_of(lambda: list(api("/ip/address/add", address="192.168.88.1/24", interface="bridge")))
    expect(e.message == "failure: already have such address", repr(e.message))


@check("a set flag is printed bare, an unset one not at all")
def _():
    list(api.rawCmd("/ip/route/add", "=dst-address=10.66.0.0/16", "=blackhole=", "=comment=conformance bh"))
    list(api("/ip/route/add", **{"dst-address": "10.67.0.0/16", "gateway": "192.168.88.2", "comment": "conformance gw"}))
    routes = {r.get("comment"): r for r in api.path("ip", "route")}
    bh, gw = routes["conformance bh"], routes["conformance gw"]
    expect(bh.get("blackhole") == "", "blackhole route: %r" % bh)
    expect("blackhole" not in gw, "gateway route: %r" % gw)
    expect(gw.get("active") is True, "active not a boolean: %r" % gw)


@check("traps: unknown parameter, missing item, unknown command")
def _():
    e = trap_of(lambda: list(api.rawCmd("/ip/address/add", "=address=10.56.0.1/24", "=interface=ether2", "=colour=blue")))
    expect("colour" in e.message, repr(e.message))
    e = trap_of(lambda: list(api.rawCmd("/ip/address/remove", "=.id=*FFFF")))
    expect(e.message.startswith("no such item"), repr(e.message))
    e = trap_of(lambda: list(api.rawCmd("/ip/address/frobnicate")))
    expect(e.message == "no such command", repr(e.message))


@check("an unknown menu answers two traps")
def _():
    try:
        list(api.rawCmd("/system/routerboard/getall"))
    except MultiTrapError as e:
        got = [t.message for t in e.traps]
        expect(got == ["no such command or directory (routerboard)", "no such command prefix"], got)
        return
    raise AssertionError("not a double trap")


@check("a read-only user is refused writes")
def _():
    list(api.rawCmd("/user/add", "=name=conformance-ro", "=group=read", "=password=ro-pass"))
    ro = connect("conformance-ro", "ro-pass")
    try:
        expect(list(ro("/ip/address/print")), "read user reads nothing")
        e = trap_of(lambda: list(ro("/ip/address/add", address="10.57.0.1/24", interface="ether2")))
        expect(e.message == "not enough permissions (9)", repr(e.message))
    finally:
        ro.close()


def read_raw(c):
    """One reply sentence as (word, attributes); .tag words have no leading
    '=', which librouteros 3.1's own parser does not take."""
    word, words = c.protocol.readSentence()
    attrs = {}
    for w in words:
        k, _, v = w.lstrip("=").partition("=")
        attrs[k] = v
    return word, attrs


@check("/cancel interrupts a running command")
def _():
    c = connect()
    try:
        c.protocol.writeSentence("/tool/ping", "=address=192.168.88.1", "=interval=20ms", ".tag=p")
        word, attrs = read_raw(c)
        expect(word == "!re" and attrs.get(".tag") == "p", (word, attrs))
        c.protocol.writeSentence("/cancel", "=tag=p", ".tag=c")
        seen = []
        while len(seen) < 3:
            word, attrs = read_raw(c)
            if word == "!re":
                continue
            seen.append((word, attrs.get(".tag"), attrs.get("category"), attrs.get("message")))
        want = [("!trap", "p", "2", "interrupted"), ("!done", "c", None, None), ("!done", "p", None, None)]
        expect(seen == want, seen)
    finally:
        c.close()


api.close()
sys.exit(1 if failures else 0)
