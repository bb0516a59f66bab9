/** The playground's live canvas views; each takes its data by props and draws it in an effect. */
export { AttentionView, type AttentionViewProps, type HeadChoice } from './AttentionView.tsx';
export { ConfusionView, type EpochReportViewProps } from './ConfusionView.tsx';
export { CurvesView, type CurveRun } from './CurvesView.tsx';
export { MixedBatchView } from './MixedBatchView.tsx';
export { OverSmoothingView, type OverSmoothingViewProps } from './OverSmoothingView.tsx';
export { PredictionsView } from './PredictionsView.tsx';
export { TeacherMapsView } from './TeacherMapsView.tsx';
export { TokenMixView } from './TokenMixView.tsx';
export { TokenFluctuationView, type TokenFluctuationViewProps } from './TokenFluctuationView.tsx';
