/** A titled panel that tells the store whether it is on screen, so the worker reads back only what is seen. */
import { type ReactNode, useEffect, useRef } from 'react';
import { useStore, type ViewName } from './store.ts';

export function Section({ title, view, children, note }: { title: string; view?: ViewName; children: ReactNode; note?: ReactNode }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!view || !el || typeof IntersectionObserver === 'undefined') return;
    const observer = new IntersectionObserver(([entry]) => useStore.getState().setView(view, entry.isIntersecting));
    observer.observe(el);
    return () => {
      observer.disconnect();
      useStore.getState().setView(view, false);
    };
  }, [view]);
  return (
    <section ref={ref} className="panel" data-view={view}>
      <h3>{title}</h3>
      {note && <p className="note">{note}</p>}
      {children}
    </section>
  );
}
