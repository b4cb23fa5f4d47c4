// `pnpm run lint`: typescript-eslint with type information over all of the project's TypeScript.
// Rules that only restate the strict compiler (tsconfig.json) are left to it; these add what tsc
// cannot see: promises nobody awaits, conditions that are always true, any leaking out.
import eslint from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig(
  // ESLint leaves every node_modules/ out by itself.
  { ignores: ["build/", "**/*.js", "**/*.mjs"] },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // This file is outside tsconfig.json (the program's check does not cover its tooling).
      parserOptions: { projectService: { allowDefaultProject: ["eslint.config.ts"] }, tsconfigRootDir: __dirname },
    },
    rules: {
      // An async function without await is how this project implements a Promise-returning contract
      // (verify's Target, the doubles' handlers, fakes, lookups): it turns a throw into a rejection,
      // which dropping `async` would change.
      "@typescript-eslint/require-await": "off",
      // Destructuring a key into an unused name is how a test drops it from a copy of an object.
      "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true }],
      // The evaluator is required where it is used, so that a process that only reads evaluations
      // (the CLIs' tests, the benchmark's parent) loads nothing of Pulumi's.
      "@typescript-eslint/no-require-imports": ["error", { allow: ["/evaluate$"] }],
      // node:test runs the tests its calls register; their promises are its to await.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            {
              from: "package",
              package: "node:test",
              name: ["test", "describe", "it", "suite", "before", "after", "beforeEach", "afterEach"],
            },
          ],
        },
      ],
    },
  },
);
