// `pnpm run lint`: typescript-eslint with type information over all of the project's TypeScript.
// Rules that only restate the strict compiler (tsconfig.json) are left to it; these add what tsc
// cannot see: promises nobody awaits, conditions that are always true, any leaking out.
import eslint from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig(
  { ignores: ["build/", "**/*.js", "**/*.mjs"] },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: __dirname },
    },
    rules: {
      // node:test runs the tests its calls register; their promises are its to await.
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it", "suite", "before", "after", "beforeEach", "afterEach"] }] },
      ],
    },
  },
);
