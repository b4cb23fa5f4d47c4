// The unit tests: everything that needs neither root nor a running sandbox, in one process. Each
// folder mirrors what its tests test:
//   index/       the Pulumi program (index.ts) under mocks: what it declares and what Azure needs of it;
//                its modules share one evaluation per configuration (test/support/program.ts)
//   lib/ plan/ policy/ provision/ sandbox/ verify/ report/
//                the modules of those folders (provision/: the bash, run with stub commands)
//   doubles/     the test doubles of test/doubles/, against the upstream behaviour they follow
//   repository/  what holds the whole tree: the type check, the docs, the workflows, the lockfile
import { testGroups } from "../support/test-group";

testGroups(__dirname, [
  "index",
  "lib",
  "plan",
  "policy",
  "provision",
  "sandbox",
  "verify",
  "report",
  "doubles",
  "repository",
]);
