// What a tab is to the app shell: it draws itself into its root and releases its canvases.
export interface View {
  mount(): Promise<void>;
  dispose(): void;
}
