// End-to-end: the program's own extension scripts, run by the sandbox on systemd containers. Needs
// root and the sandbox's Debian packages (bootstrap/bootstrap.sh). One sandbox serves every test
// (bring-up.ts); the parts run in this order, since the later ones change the sandbox more: the
// committed stack and its changes, then the checks the reliability report shows (hardening,
// verify against faults, faults in provisioning, the secret scan, monitoring turned on, and operator
// scenarios, the last of which starts a fresh sandbox).
import "./bring-up";
import "./committed-stack";
import "./hardening";
import "./verify";
import "./faults";
import "./secrets";
import "./monitoring";
import "./operations";
