/**
 * @remarks Tools typed Promise<JsonValue> declare no result type: they resolve to their structured content, else their one text block (parsed when the whole text is valid JSON, whatever the value, else the text as a string), else an array of their content blocks.
 */
declare namespace git {
  interface Tools {
    /** Shows the working tree status */
    git_status(args: { repo_path: string }): Promise<JsonValue>;
    /** Shows changes in the working directory that are not yet staged */
    git_diff_unstaged(args: GitDiffUnstagedInput): Promise<JsonValue>;
    /** Shows changes that are staged for commit */
    git_diff_staged(args: GitDiffStagedInput): Promise<JsonValue>;
    /** Shows differences between branches or commits */
    git_diff(args: GitDiffInput): Promise<JsonValue>;
    /** Records changes to the repository */
    git_commit(args: { repo_path: string; message: string }): Promise<JsonValue>;
    /** Adds file contents to the staging area */
    git_add(args: GitAddInput): Promise<JsonValue>;
    /** Unstages all staged changes */
    git_reset(args: { repo_path: string }): Promise<JsonValue>;
    /** Shows the commit logs */
    git_log(args: GitLogInput): Promise<JsonValue>;
    /** Creates a new branch from an optional base branch */
    git_create_branch(args: GitCreateBranchInput): Promise<JsonValue>;
    /** Switches branches */
    git_checkout(args: { repo_path: string; branch_name: string }): Promise<JsonValue>;
    /** Shows the contents of a commit, or of a file or directory given as <revision>:<path> */
    git_show(args: { repo_path: string; revision: string }): Promise<JsonValue>;
    /** List Git branches */
    git_branch(args: GitBranchInput): Promise<JsonValue>;
  }
  interface GitDiffUnstagedInput {
    repo_path: string;
    /** @default 3 */
    context_lines?: number;
  }
  interface GitDiffStagedInput {
    repo_path: string;
    /** @default 3 */
    context_lines?: number;
  }
  interface GitDiffInput {
    repo_path: string;
    target: string;
    /** @default 3 */
    context_lines?: number;
  }
  interface GitAddInput {
    repo_path: string;
    /** @minItems 1 */
    files: string[];
  }
  interface GitLogInput {
    repo_path: string;
    /** @default 10 */
    max_count?: number;
    /**
     * Start timestamp for filtering commits. Accepts: ISO 8601 format (e.g., '2024-01-15T14:30:25'), relative dates (e.g., '2 weeks ago', 'yesterday'), or absolute dates (e.g., '2024-01-15', 'Jan 15 2024')
     * @default null
     */
    start_timestamp?: string | null;
    /**
     * End timestamp for filtering commits. Accepts: ISO 8601 format (e.g., '2024-01-15T14:30:25'), relative dates (e.g., '2 weeks ago', 'yesterday'), or absolute dates (e.g., '2024-01-15', 'Jan 15 2024')
     * @default null
     */
    end_timestamp?: string | null;
  }
  interface GitCreateBranchInput {
    repo_path: string;
    branch_name: string;
    /** @default null */
    base_branch?: string | null;
  }
  interface GitBranchInput {
    /** The path to the Git repository. */
    repo_path: string;
    /** Whether to list local branches ('local'), remote branches ('remote') or all branches('all'). */
    branch_type: string;
    /**
     * The commit sha that branch should contain. Do not pass anything to this param if no commit sha is specified
     * @default null
     */
    contains?: string | null;
    /**
     * The commit sha that branch should NOT contain. Do not pass anything to this param if no commit sha is specified
     * @default null
     */
    not_contains?: string | null;
  }
}
