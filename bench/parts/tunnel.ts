import { Report } from '../harness/report.js';
export async function tunnelPart(_o: { seconds: number; repetitions: number }): Promise<Report> { return new Report('3 tunnel'); }
