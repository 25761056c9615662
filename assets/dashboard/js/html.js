// The one place that binds htm to Preact: views write html`<p>${text}</p>` and need no build step.
import { h, render, createContext, Fragment } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
export { render, createContext, Fragment };
export {
  useCallback,
  useContext,
  useEffect,
  useId,
  useMemo,
  useRef,
  useState,
} from 'preact/hooks';
