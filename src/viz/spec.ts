/**
 * A Vega-Lite specification as hemgpu's chart functions return it: plain JSON. It is typed here,
 * not as vega-lite's `TopLevelSpec`, so that hemgpu's declarations need neither vega-lite (an
 * optional package the figures load) nor the DOM's types that vega-lite's refer to. The functions
 * build their specs against `TopLevelSpec` inside; cast (`spec as TopLevelSpec`) where your own
 * code type-checks against vega-lite.
 */
export interface ChartSpec {
  readonly $schema?: string;
}
