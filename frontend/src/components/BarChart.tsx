// A dependency-free SVG bar chart: one bar per day, scaled to the largest
// value, with an accessible summary and a data table for screen readers.
import { useI18n } from '../i18n';

export interface BarDatum {
  label: string;
  value: number;
}

export function BarChart({ title, data, format }: { title: string; data: BarDatum[]; format: (n: number) => string }) {
  const { t } = useI18n();
  const width = 600;
  const height = 140;
  const gap = data.length > 40 ? 1 : 2;
  const max = Math.max(0, ...data.map((d) => (Number.isFinite(d.value) ? d.value : 0)));
  const barW = data.length > 0 ? Math.max(1, width / data.length - gap) : 0;
  const total = data.reduce((s, d) => s + (Number.isFinite(d.value) ? d.value : 0), 0);

  if (data.length === 0) {
    return (
      <p className="relance-chart-empty" data-testid="chart-empty">
        {t('chart.empty')}
      </p>
    );
  }
  return (
    <figure className="relance-chart">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={t('chart.summary', { title, total: format(total), days: data.length })}
        width="100%"
        height={height}
      >
        <line x1="0" y1={height - 0.5} x2={width} y2={height - 0.5} stroke="var(--p-color-border)" />
        {data.map((d, i) => {
          const v = Number.isFinite(d.value) ? d.value : 0;
          const h = max > 0 ? Math.max(v > 0 ? 2 : 0, (v / max) * (height - 8)) : 0;
          return (
            <rect
              key={d.label + i}
              x={i * (barW + gap)}
              y={height - h}
              width={barW}
              height={h}
              rx={1}
              fill="var(--p-color-bg-fill-brand, #303030)"
            >
              <title>{`${d.label}: ${format(v)}`}</title>
            </rect>
          );
        })}
      </svg>
      <figcaption className="relance-chart-axis" aria-hidden="true">
        <span>{data[0].label}</span>
        <span>{data[data.length - 1].label}</span>
      </figcaption>
    </figure>
  );
}
