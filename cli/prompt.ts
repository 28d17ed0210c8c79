// Confirmation prompts, only when a person is at the terminal.
import readline from 'node:readline/promises';

export async function confirm(question: string, assumeYes: boolean): Promise<boolean> {
  if (assumeYes || !process.stdin.isTTY) return true;
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [Y/n] `)).trim().toLowerCase();
    return answer === '' || answer === 'y' || answer === 'yes';
  } finally {
    rl.close();
  }
}
