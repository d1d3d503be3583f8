import { describe, expect, it } from 'vitest';
import { escapeXml, formatTick, linearTicks, logTicks, plotSvg } from '../lib/plot.js';

const circles = (svg: string) => [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])] as const);

describe('axis ticks', () => {
  it('steps by 1, 2 or 5 times a power of ten from below the range to above it', () => {
    expect(linearTicks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(linearTicks(0, 0.3)).toEqual([0, 0.1, 0.2, 0.3]);
    expect(linearTicks(0, 0.09)).toEqual([0, 0.02, 0.04, 0.06, 0.08, 0.1]);
    expect(linearTicks(-12, 37)).toEqual([-20, -10, 0, 10, 20, 30, 40]);
    expect(linearTicks(5, 5)).toEqual([5]);
    expect(() => linearTicks(3, 1)).toThrow(/bad axis range/);
  });

  it('uses powers of ten on a log axis', () => {
    expect(logTicks(3, 4200)).toEqual([1, 10, 100, 1000, 10000]);
    expect(logTicks(0.02, 0.5)).toEqual([0.01, 0.1, 1]);
    expect(() => logTicks(0, 10)).toThrow(/0 < min/);
  });

  it('labels thousands and millions compactly', () => {
    expect(formatTick(20000)).toBe('20k');
    expect(formatTick(2_500_000)).toBe('2.5M');
    expect(formatTick(0.05)).toBe('0.05');
    expect(formatTick(1500)).toBe('1500');
  });
});

describe('plotSvg', () => {
  const base = { title: 'p99 <vs> rate & more', xLabel: 'events/s', yLabel: 'ms' };

  it('places points by value: larger x further right, larger y further up', () => {
    const svg = plotSvg({ ...base, series: [{ name: 'a', points: [[10, 1], [20, 5], [40, 3]] }] });
    const [p1, p2, p3] = circles(svg);
    expect(p1![0]).toBeLessThan(p2![0]);
    expect(p2![0]).toBeLessThan(p3![0]);
    expect(p2![1]).toBeLessThan(p3![1]); // SVG y grows downwards
    expect(p3![1]).toBeLessThan(p1![1]);
    // Equal steps in x are equal distances on a linear axis.
    expect(Math.abs(p3![0] - p2![0] - 2 * (p2![0] - p1![0]))).toBeLessThan(0.2);
  });

  it('spaces decades evenly on a log axis', () => {
    const svg = plotSvg({ ...base, xLog: true, series: [{ name: 'a', points: [[1, 1], [10, 1], [100, 1]] }] });
    const [p1, p2, p3] = circles(svg);
    expect(Math.abs(p3![0] - p2![0] - (p2![0] - p1![0]))).toBeLessThan(0.2);
  });

  it('draws a line per series unless markers only, and lists series in the legend', () => {
    const svg = plotSvg({
      ...base,
      series: [
        { name: 'line', points: [[1, 1], [2, 2]] },
        { name: 'dots', points: [[1, 2], [2, 1]], line: false },
        { name: 'grid 1', points: [[1, 3], [2, 3]], color: '#ccc' },
      ],
      hideInLegend: (n) => n.startsWith('grid'),
    });
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('>line</text>');
    expect(svg).toContain('>dots</text>');
    expect(svg).not.toContain('>grid 1</text>');
    expect(svg).toContain('stroke="#ccc"');
  });

  it('escapes text and produces one well-formed svg element', () => {
    const svg = plotSvg({ ...base, series: [{ name: 'x<y', points: [[1, 1]] }] });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('p99 &lt;vs&gt; rate &amp; more');
    expect(svg).toContain('x&lt;y');
    expect(escapeXml('"a"')).toBe('&quot;a&quot;');
  });

  it('refuses points it cannot draw', () => {
    expect(() => plotSvg({ ...base, series: [] })).toThrow(/no points/);
    expect(() => plotSvg({ ...base, series: [{ name: 's', points: [[1, Number.NaN]] }] })).toThrow(/non-finite/);
    expect(() => plotSvg({ ...base, yLog: true, series: [{ name: 's', points: [[1, 0]] }] })).toThrow(/log axis/);
  });
});
