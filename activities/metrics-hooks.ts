// Figures only activities see, handed to whatever the worker installed to record them
// (workers/metrics.ts): activities stay free of the metrics library, and of the worker.

type Observer = (seconds: number) => void;

let detection: Observer = () => undefined;

/** The worker's metrics register here; without metrics nothing is recorded. */
export function setDetectionObserver(observer: Observer): void {
  detection = observer;
}

/** A watcher noticed a node lost `seconds` after it last saw every node up. */
export function reportDetection(seconds: number): void {
  detection(seconds);
}
