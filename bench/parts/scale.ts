import { Report } from '../harness/report.js';
export async function scalePart(_o: { bindings: number; repetitions: number; quick: boolean }): Promise<Report> { return new Report('2 scale'); }
