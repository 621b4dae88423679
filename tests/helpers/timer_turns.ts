// Counting event-loop turns in tests of long work that must give the loop turns (issue 20): a
// timer re-armed each time it runs counts the timer turns (the ones in which sockets are read)
// that happened while the work ran. No time is asserted.

/** A running count of timer turns; `stop` ends it and returns the count (idempotent). */
export interface TimerTurns {
  stop(): number;
}

/** Starts counting timer turns from now. */
export function countTimerTurns(): TimerTurns {
  let turns = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = () => {
    turns++;
    timer = setTimeout(tick, 0);
  };
  timer = setTimeout(tick, 0);
  return {
    stop() {
      clearTimeout(timer);
      return turns;
    },
  };
}
