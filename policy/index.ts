// The flowproxy-staging policy pack: `pulumi preview --policy-pack policy` runs it against the stack.
// The rules live in rules.ts (pure functions) and policies.ts (names and enforcement levels).
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("flowproxy-staging", { policies });
