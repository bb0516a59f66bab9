/** A small canvas plot of loss against step; redrawn whenever the history changes. */
import { useEffect, useRef } from 'react';
import { type ProgressMessage } from '../train/protocol.ts';

export function LossChart({ history, steps }: { history: ProgressMessage[]; steps: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) return;
    const { width: w, height: h } = canvas;
    const pad = 28;
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = '#999';
    ctx.strokeRect(pad, 4, w - pad - 4, h - pad);
    if (!history.length) return;
    const losses = history.map((p) => p.loss);
    const hi = Math.max(...losses);
    const lo = Math.min(0, ...losses);
    const x = (step: number) => pad + ((w - pad - 4) * step) / Math.max(steps, history.length);
    const y = (loss: number) => 4 + (h - pad) * (1 - (loss - lo) / (hi - lo || 1));
    ctx.fillStyle = '#555';
    ctx.font = '11px sans-serif';
    ctx.fillText(hi.toFixed(2), 0, 14);
    ctx.fillText(lo.toFixed(2), 0, h - pad + 4);
    ctx.fillText(`step ${history.length}`, w - 60, h - 8);
    ctx.strokeStyle = '#1565c0';
    ctx.lineWidth = 2;
    ctx.beginPath();
    history.forEach((p, i) => (i ? ctx.lineTo(x(p.step), y(p.loss)) : ctx.moveTo(x(p.step), y(p.loss))));
    if (history.length === 1) ctx.arc(x(history[0].step), y(history[0].loss), 2, 0, 2 * Math.PI);
    ctx.stroke();
  }, [history, steps]);
  return <canvas ref={ref} width={480} height={180} data-testid="loss-chart" data-losses={JSON.stringify(history.map((p) => p.loss))} />;
}
