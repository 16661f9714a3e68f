// The DSL desk.
type Page = { label: string; open: () => Promise<void> | void };

export function deskPages(): Page[] {
  return [];
}

export function stopDesk(): void {}
