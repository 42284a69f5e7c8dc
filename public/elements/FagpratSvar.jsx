// The behaviour of one fagprat answer in the chat (ui/presenter.py, ui/app.py).
//
// Invisible. It sits inside its answer's message and
// - opens source n in the side panel when a [n] link of *this* answer is clicked
//   (the links point at "#kilde-n"; the panel is built from props.sources, so
//   the panel for [n] always shows source n of this answer);
// - marks the message as a draft while props.state is "draft" (muted text, see
//   public/fagprat.css), until the verified answer replaces it.
// Chainlit's own side elements are not used: Chainlit 2.12 opens them by itself
// after every answer and mixes the sources of all answers in one panel.
import { useEffect, useRef } from 'react';
import { useSetRecoilState } from 'recoil';
import { sideViewState } from '@chainlit/react-client';

const ANCHOR = '#kilde-';

export default function FagpratSvar() {
  const anchor = useRef(null);
  const setSideView = useSetRecoilState(sideViewState);

  useEffect(() => {
    const message = anchor.current && anchor.current.closest('[data-step-type]');
    if (!message) return undefined;
    message.classList.toggle('fagprat-utkast', props.state === 'draft');
    const sources = props.sources || [];

    const onClick = (event) => {
      const link = event.target.closest && event.target.closest('a[href^="' + ANCHOR + '"]');
      if (!link || !message.contains(link)) return;
      event.preventDefault();
      event.stopPropagation();
      const number = Number(link.getAttribute('href').slice(ANCHOR.length));
      const source = sources.find((s) => s.number === number);
      if (!source) return;
      setSideView({
        title: source.panel_title,
        elements: [
          {
            id: message.id + '-kilde-' + number,
            type: 'custom',
            name: 'FagpratKilde',
            display: 'side',
            props: source
          }
        ]
      });
    };
    message.addEventListener('click', onClick, true);
    return () => {
      message.removeEventListener('click', onClick, true);
      message.classList.remove('fagprat-utkast');
    };
  }, [props.state, props.sources]);

  return <span ref={anchor} className="fagprat-svar" hidden />;
}
