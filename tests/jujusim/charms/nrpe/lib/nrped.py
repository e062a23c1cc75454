"""The stand-in nagios-nrpe-server daemon: what the real NRPE daemon does at start that
the tests can see. It reads /etc/nagios/nrpe.cfg, its include_dir folders' *.cfg and
collects the `command[<name>]=<command line>` definitions, as nrpe does (a later
definition of a name wins), writes them to /run/nagios/nrpe-commands.json and waits.
A restart reloads them. No check_nrpe protocol: the tests run the command lines
themselves, as the nagios user (nrpe_user)."""
import json
import os
import signal
import time

CONF = "/etc/nagios/nrpe.cfg"
OUT = "/run/nagios/nrpe-commands.json"


def load(path, commands):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return
    for line in lines:
        line = line.strip()
        if line.startswith("include_dir="):
            folder = line.split("=", 1)[1]
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                if name.endswith(".cfg"):
                    load(os.path.join(folder, name), commands)
        elif line.startswith("command[") and "]=" in line:
            name, command = line[len("command["):].split("]=", 1)
            commands[name] = command


def main():
    commands = {}
    load(CONF, commands)
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"loaded": time.time(), "commands": commands}, f, indent=1, sort_keys=True)
    os.replace(tmp, OUT)
    print("nrpe: %d commands loaded" % len(commands), flush=True)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
