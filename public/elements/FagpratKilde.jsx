// One source in the side panel (props: ui/presenter.py SourceView): where the
// passage comes from, a link to the original, and the passage itself with the
// text that supports the answer highlighted. Passage text is rendered as text
// (React escapes it): never parsed as Markdown or HTML.
import { useSetRecoilState } from 'recoil';
import { sideViewState } from '@chainlit/react-client';
import { Button } from '@/components/ui/button';

export default function FagpratKilde() {
  const setSideView = useSetRecoilState(sideViewState);
  const showPdf = () =>
    setSideView({
      title: props.panel_title,
      elements: [
        {
          id: 'fagprat-pdf-' + props.number + '-' + props.pdf_url,
          type: 'pdf',
          name: props.title,
          display: 'side',
          url: props.pdf_url,
          page: props.pdf_page || 1,
          mime: 'application/pdf'
        }
      ]
    });

  return (
    <div className="fagprat-kilde flex flex-col gap-3 text-sm">
      <ul className="flex flex-col gap-1">
        {props.facts.map(([label, value]) => (
          <li key={label}>
            <span className="font-semibold">{label}:</span> {value}
          </li>
        ))}
        {props.original_href ? (
          <li>
            <span className="font-semibold">{props.original_label}:</span>{' '}
            <a
              className="fagprat-original text-primary underline break-all"
              href={props.original_href}
              target="_blank"
              rel="noopener noreferrer"
            >
              {props.original_text}
            </a>
          </li>
        ) : null}
      </ul>
      {props.warning ? (
        <div role="alert" className="fagprat-advarsel rounded-md border-l-4 border-yellow-400 bg-yellow-50 p-2 text-yellow-900">
          ⚠️ {props.warning}
        </div>
      ) : null}
      {props.pdf_url ? (
        <div>
          <Button variant="outline" size="sm" onClick={showPdf}>
            {props.show_pdf_label}
          </Button>
        </div>
      ) : null}
      <div className="font-semibold">{props.quoted_label}</div>
      <div className="text-muted-foreground">{props.note}</div>
      <blockquote className="fagprat-sitat whitespace-pre-wrap break-words border-l-2 pl-4">
        {props.segments.map((segment, i) =>
          segment.highlight ? (
            <mark key={i} className="fagprat-uthevet">
              {segment.text}
            </mark>
          ) : (
            <span key={i}>{segment.text}</span>
          )
        )}
      </blockquote>
      {props.credit ? <div className="italic text-muted-foreground">{props.credit}</div> : null}
    </div>
  );
}
