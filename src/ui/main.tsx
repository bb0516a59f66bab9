import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { useStore } from './store.ts';
import './style.css';

// The store, for the console and the e2e tests (e.g. labelflow.getState().loseDevice()).
(globalThis as unknown as { labelflow: typeof useStore }).labelflow = useStore;

createRoot(document.getElementById('root')!).render(<StrictMode><App /></StrictMode>);
