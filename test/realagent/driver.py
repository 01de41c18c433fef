#!/usr/bin/env python3
"""Drive the installed guest agent (Debian's waagent, module azurelinuxagent)
over one goal state for one extension, then print what the agent would
upload to Azure.

This is the project's own test driver (test/realagent); it contains no agent
code. `driver.py check <name>` prints only the agent's verdict on the status
files of handler <name> (see check_status_files). Otherwise it reads a
request (JSON) on stdin:

  {"name": "<publisher>.<type>", "version": "1.0.0.1",
   "state": "enabled" | "disabled" | "uninstall",
   "seq": 3, "incarnation": "7",
   "packages": {"1.0.0.1": "/opt/…__1.0.0.1.zip", "1.0.0.2": "…"},
   "public": {…} | null, "protected": {…} | null,
   "stateDir": "/opt/aadssh-sandbox/realagent"}

builds the agent's own goal-state objects (restapi.Extension and
ExtensionSettings, as extensions_goal_state_from_extensions_config does from
ExtensionsConfig.xml), hands them to the agent's ExtHandlersHandler through a
local protocol object whose package "download" copies the zip, runs the
agent's goal-state processing (ExtHandlersHandler.run), then its status
report (report_ext_handlers_status -> VMStatus -> wire.vm_status_to_v1, the
document the agent uploads as the status blob), and prints:

  {"agentVersion": "2.7.3.0", "status": <v1 status blob>,
   "commands": [{"cmd": "…/scripts/aadsshlogin-shim install", "env": {…}}, …],
   "errors": ["<error lines the agent logged, e.g. a swallowed uninstall failure>"],
   "statusFiles": [{"file": "…/status/0.status", "size": 612, "status": "success"}
                   | {"file": …, "error": "<the agent's parser's verdict>"}, …]}

Protected settings travel as CRP sends them: the JSON is encrypted (CMS
EnvelopedData, DER, base64) to a tenant certificate whose <THUMBPRINT>.crt and
.prv sit in the agent's library folder, where the agent's Certificates
handling puts them; the agent itself writes config/<seq>.settings.

Each run is a fresh agent process, so a second run with the same incarnation
is exactly what the agent does after a restart: update.py keeps the last
processed incarnation (2.7: last_incarnation) or extensions goal state id
(2.12: _last_extensions_gs_id) in memory only, so the first goal state after
a restart is processed again (handle_enable runs enable for the same
sequence number). Both 2.7 (bookworm) and 2.12 (trixie) are served: their
protocol surfaces differ (see LocalGoalState, LocalProtocol).
"""

import base64
import datetime
import glob
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile

import azurelinuxagent.common.conf as conf
import azurelinuxagent.common.event as event
import azurelinuxagent.common.logger as logger
from azurelinuxagent.common.osutil import get_osutil
from azurelinuxagent.common.protocol.restapi import (Extension, ExtensionSettings, ExtensionStatus,
                                                     ExtHandlerPackage, ExtHandlerPackageList)
from azurelinuxagent.common.protocol.wire import vm_status_to_v1
from azurelinuxagent.common.utils.cryptutil import CryptUtil
from azurelinuxagent.common.version import AGENT_VERSION
from azurelinuxagent.ga.exthandlers import (_MAX_STATUS_FILE_SIZE_IN_BYTES, ExtHandlerInstance,
                                            ExtHandlersHandler, ExtensionStatusValue, parse_ext_status)

WIRESERVER = "168.63.129.16"


class LocalGoalState(object):
    """The attributes ExtHandlersHandler reads from a goal state and its
    extensions goal state: 2.7 asks the protocol for each, 2.12 reads
    goal_state.extensions_goal_state (a Fabric goal state from the
    WireServer) and fetches the extension manifest through it."""

    def __init__(self, incarnation, extensions, packages):
        self.id = "incarnation_" + incarnation
        self.incarnation = incarnation
        self.svd_sequence_number = int(incarnation)
        self.channel = "WireServer"
        self.source = "Fabric"
        self.is_outdated = False
        self.extensions = extensions
        self.on_hold = False
        self.required_features = []
        self.created_on_timestamp = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.activity_id = str(uuid.uuid4())
        self.correlation_id = str(uuid.uuid4())
        self.packages = packages

    @property
    def extensions_goal_state(self):
        return self

    def pkg_list(self):
        pkgs = ExtHandlerPackageList()
        for version, path in sorted(self.packages.items()):
            pkg = ExtHandlerPackage(version=version)
            pkg.uris.append("file://" + path)
            pkgs.versions.append(pkg)
        return pkgs

    def fetch_extension_manifest(self, name, uris):
        manifest = type("LocalManifest", (object,), {})()
        manifest.pkg_list = self.pkg_list()
        return manifest


class LocalProtocol(object):
    """The protocol surface ExtHandlersHandler and ExtHandlerInstance use,
    served from the request instead of the WireServer."""

    def __init__(self, goal_state):
        self.goal_state = goal_state
        self.client = self
        self.status_blob = None

    # -- WireProtocol / WireClient methods the extension code calls
    def get_extensions_goal_state(self):
        return self.goal_state

    def get_goal_state(self):
        return self.goal_state

    def get_incarnation(self):
        return self.goal_state.incarnation

    def get_endpoint(self):
        return WIRESERVER

    def get_ext_handler_pkgs(self, ext_handler):  # 2.7
        return self.goal_state.pkg_list()

    def download_ext_handler_pkg(self, uri, destination):  # 2.7
        shutil.copyfile(uri[len("file://"):], destination)
        return True

    def download_zip_package(self, package_type, uris, target_file, target_directory, use_verify_header):  # 2.12
        """WireClient.download_zip_package: fetch the zip, expand it into
        target_directory, delete the zip; raise when no URI works."""
        if not uris:
            raise Exception("no URI for the " + package_type)
        shutil.copyfile(uris[0][len("file://"):], target_file)
        with zipfile.ZipFile(target_file) as z:
            z.extractall(target_directory)
        os.remove(target_file)

    def report_vm_status(self, vm_status):
        self.status_blob = vm_status_to_v1(vm_status)

    def get_status_blob_data(self):
        return None if self.status_blob is None else json.dumps(self.status_blob)


class CommandRecorder(logger.Appender):
    """A logger appender that keeps the agent's own record of each command
    it launched ("Executing command: <path> with environment variables: {…}")."""

    pattern = re.compile(r"Executing command: (.+?) with environment variables: (\{.*\})", re.S)

    def __init__(self):
        super(CommandRecorder, self).__init__(logger.LogLevel.INFO)
        self.commands = []
        self.errors = []

    def write(self, level, msg):
        m = self.pattern.search(msg)
        if m:
            self.commands.append({"cmd": m.group(1), "env": json.loads(m.group(2))})
        elif level >= logger.LogLevel.ERROR:
            # e.g. the uninstall failure handle_uninstall swallows (report_event)
            self.errors.append(msg.strip())


def tenant_certificate(crypt, lib_dir, state_dir):
    """Returns the thumbprint of the tenant certificate, creating it once, and
    installs <THUMBPRINT>.crt/.prv in the agent's folder."""
    os.makedirs(state_dir, exist_ok=True)
    prv, crt = os.path.join(state_dir, "tenant.prv"), os.path.join(state_dir, "tenant.crt")
    if not os.path.exists(crt):
        crypt.gen_transport_cert(prv, crt)
    thumbprint = crypt.get_thumbprint_from_crt(crt)
    for src, ext in ((crt, ".crt"), (prv, ".prv")):
        dst = os.path.join(lib_dir, thumbprint + ext)
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o600)
    return thumbprint, crt


def encrypt(openssl, crt, plain):
    der = subprocess.run([openssl, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", crt],
                         input=plain.encode("utf-8"), stdout=subprocess.PIPE, check=True).stdout
    return base64.b64encode(der).decode("ascii")


def check_status_files(lib_dir, name):
    """Judges every status file of the handler with the agent's own status
    parsing (ExtHandlerInstance._read_and_parse_json_status_file,
    parse_ext_status, the 128 KiB limit of collect_ext_status); a status
    value the agent does not know (it silently turns it into "error") is a
    failure too."""
    results = []
    for path in sorted(glob.glob(os.path.join(lib_dir, name + "-*", "status", "*.status"))):
        entry = {"file": path}
        try:
            data_str, data = ExtHandlerInstance._read_and_parse_json_status_file(path)
            entry["size"] = len(data_str)
            parsed = ExtensionStatus(seq_no=0)
            parse_ext_status(parsed, data)
            raw = data[0]["status"]["status"] if isinstance(data, list) and data else None
            if len(data_str) > _MAX_STATUS_FILE_SIZE_IN_BYTES:
                entry["error"] = "size {0} exceeds {1}".format(len(data_str), _MAX_STATUS_FILE_SIZE_IN_BYTES)
            elif raw not in ExtensionStatusValue.STRINGS:
                entry["error"] = "status value {0!r} is not one of {1}".format(raw, ExtensionStatusValue.STRINGS)
            else:
                entry["status"] = parsed.status
        except Exception as e:  # the agent's own verdict, whatever its type
            entry["error"] = "{0}: {1}".format(type(e).__name__, e)
        results.append(entry)
    return results


def main():
    if sys.argv[1:2] == ["check"]:
        # driver.py check <handler name>: only the agent's verdict on the
        # status files (used by tests that write status files themselves).
        conf.load_conf_from_file("/etc/waagent.conf")
        json.dump(check_status_files(conf.get_lib_dir(), sys.argv[2]), sys.stdout)
        sys.stdout.write("\n")
        return 0
    req = json.load(sys.stdin)
    # The start-up steps of azurelinuxagent.agent.Agent.__init__ that the
    # extension code relies on (configuration, log file, extension log
    # folder, event reporter), without its console appenders.
    conf.load_conf_from_file("/etc/waagent.conf")
    lib_dir = conf.get_lib_dir()
    os.makedirs(lib_dir, exist_ok=True)
    logger.add_logger_appender(logger.AppenderType.FILE, logger.LogLevel.INFO, conf.get_agent_log_file())
    os.makedirs(conf.get_ext_log_dir(), mode=0o755, exist_ok=True)
    event.init_event_status(lib_dir)
    event.init_event_logger(os.path.join(lib_dir, event.EVENTS_DIRECTORY))
    recorder = CommandRecorder()
    logger.DEFAULT_LOGGER.appenders.append(recorder)

    settings = ExtensionSettings(name=req["name"], sequenceNumber=req["seq"],
                                 publicSettings=req.get("public"))
    if req.get("protected") is not None:
        crypt = CryptUtil(conf.get_openssl_cmd())
        thumbprint, crt = tenant_certificate(crypt, lib_dir, req["stateDir"])
        plain = json.dumps(req["protected"], separators=(",", ":"))
        settings.protectedSettings = encrypt(conf.get_openssl_cmd(), crt, plain)
        settings.certificateThumbprint = thumbprint

    ext = Extension(name=req["name"])
    ext.version = req["version"]
    ext.state = req["state"]
    ext.settings.append(settings)
    protocol = LocalProtocol(LocalGoalState(str(req["incarnation"]), [ext], req["packages"]))

    handler = ExtHandlersHandler(protocol)
    handler.run()
    # 2.7 names the flag incarnation_changed, 2.12 goal_state_changed.
    params = inspect.signature(handler.report_ext_handlers_status).parameters
    flag = "goal_state_changed" if "goal_state_changed" in params else "incarnation_changed"
    vm_status = handler.report_ext_handlers_status(**{flag: True})
    if vm_status is None or protocol.status_blob is None:
        print("the agent produced no status report", file=sys.stderr)
        return 1
    json.dump({"agentVersion": AGENT_VERSION, "osutil": type(get_osutil()).__name__,
               "status": protocol.status_blob, "commands": recorder.commands, "errors": recorder.errors,
               "statusFiles": check_status_files(lib_dir, req["name"])}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
