// Flat config: typescript-eslint's recommended type-aware rules on all sources.
import tseslint from "typescript-eslint";

export default tseslint.config(
  // examples/ are consumer programs with their own package (and its types only after their own install and build).
  { ignores: ["dist/**", "node_modules/**", "examples/**", "**/*.mjs", "**/*.js"] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-require-imports": "off",
      // Provider methods implement an async interface even when they do not await.
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-unused-expressions": "off" },
  },
);
