/**
 * The simulated clock's pace for `mip4 demo --inspect`: the demo awaits `tick(ms)` before each
 * advance of its SimulatedClock, which waits the real time that many simulated ms take at the
 * chosen speed (1×, 10×), or until a `step` while paused. Without --inspect the demo does not
 * call it and runs as fast as it can.
 */
export const DEMO_SPEEDS = [0, 1, 10] as const;
export type DemoSpeed = (typeof DEMO_SPEEDS)[number];

export class DemoPace {
  private currentSpeed: DemoSpeed;
  private wake: (() => void) | undefined;
  private steps = 0;
  private stopped = false;

  constructor(speed: DemoSpeed = 1) {
    this.currentSpeed = speed;
  }

  /** 0 while paused. */
  get speed(): DemoSpeed {
    return this.currentSpeed;
  }

  setSpeed(speed: DemoSpeed): void {
    this.currentSpeed = speed;
    this.wakeUp();
  }

  /** While paused, lets one tick go. */
  step(): void {
    this.steps++;
    this.wakeUp();
  }

  /** Ends every wait (the demo is being stopped). */
  stop(): void {
    this.stopped = true;
    this.wakeUp();
  }

  /** Resolves when `simulatedMs` may pass: after simulatedMs / speed real ms, or a step while paused. */
  async tick(simulatedMs: number): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      if (this.currentSpeed === 0) {
        if (this.steps > 0) {
          this.steps--;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      const speed = this.currentSpeed;
      const woken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), simulatedMs / speed);
        this.wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.wake = undefined;
      // A change of speed mid-wait starts the tick again at the new speed.
      if (!woken || this.stopped) return;
    }
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
