// The unit tests: everything that needs neither root nor a running sandbox, in one process.
//   program/     the Pulumi program under mocks: what it declares, the scripts it renders, the
//                configurations it refuses, what Azure needs from it, the plan and the docs drawn
//                from it; its modules share one evaluation per configuration (test/support/program.ts)
//   sandbox/     the sandbox's machinery and its test doubles
//   repository/  the type check, the policy pack under Pulumi's runner, the workflows, verify's
//                checks and the benchmark's parsing of wrk
import { testGroups } from "../support/test-group";

testGroups(__dirname, ["program", "sandbox", "repository"]);
