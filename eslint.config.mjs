// Lint rules. The one rule that guards the architecture: only src/extension may import `vscode`;
// the engine, worker, CLI and protocol run outside VS Code (worker process, CI, terminal).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.vscode-test/**', 'zoo/**', 'test/e2e/.work/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['src/engine/**/*.ts', 'src/worker/**/*.ts', 'src/cli/**/*.ts', 'src/protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'Only src/extension may import vscode: this code runs outside VS Code.' }],
      }],
    },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': ['error',
        { object: 'process', property: 'exit', message: 'The engine is a library: return or throw, never exit.' },
        { object: 'process', property: 'send', message: 'The engine is a library: no IPC.' },
      ],
    },
  },
);
