import { Report } from '../harness/report.js';
export async function profilePart(_o: { nodes: number; seconds: number; workDir: string }): Promise<Report> { return new Report('5 profile'); }
