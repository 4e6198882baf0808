/** The one sleep helper (STYLE.md: not eight copies of it). */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
