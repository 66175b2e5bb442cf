import { COMMANDS } from "../args.js";
import type { CommandContext } from "../context.js";
import { EXIT, usageError } from "../errors.js";

const FLAGS = ["--namespace", "--all-namespaces", "--output", "--server", "--token", "--kubeconfig", "--follow", "--run", "--limit", "--help"];
const NEEDS_VM = Object.entries(COMMANDS)
  .filter(([, spec]) => spec.args.includes("VM"))
  .map(([name]) => name);

/**
 * `completion bash|zsh`: commands, flags, output formats, and VM names (read with
 * `kubectl ptm get -o json`, so from the sidecar or the cluster as the user set up).
 */
export function completion(ctx: CommandContext, args: string[]): number {
  const shell = args[0];
  if (shell === "bash") ctx.io.out(bashScript());
  else if (shell === "zsh") ctx.io.out(`autoload -U +X bashcompinit && bashcompinit\n${bashScript()}`);
  else throw usageError(`completion takes bash or zsh, got "${shell}"`);
  return EXIT.ok;
}

function bashScript(): string {
  return `# kubectl-ptm completion: source <(kubectl-ptm completion bash)
_kubectl_ptm_vms() {
  kubectl-ptm get -o json "$@" 2>/dev/null | sed -n 's/^      "name": "\\(.*\\)",$/\\1/p'
}
_kubectl_ptm() {
  local cur prev cmd i ns=()
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      -n|--namespace) ns=(-n "\${COMP_WORDS[i+1]}") ;;
      -*) ;;
      *) [[ -z "$cmd" && "\${COMP_WORDS[i-1]}" != -* ]] && cmd="\${COMP_WORDS[i]}" ;;
    esac
  done
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "table wide json yaml" -- "$cur")); return ;;
    --server|--token|--run|--limit|-n|--namespace) return ;;
    --kubeconfig) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "${FLAGS.join(" ")}" -- "$cur"))
  elif [[ -z "$cmd" ]]; then
    COMPREPLY=($(compgen -W "${Object.keys(COMMANDS).join(" ")}" -- "$cur"))
  elif [[ "$cmd" == completion ]]; then
    COMPREPLY=($(compgen -W "bash zsh" -- "$cur"))
  elif [[ " ${NEEDS_VM.join(" ")} " == *" $cmd "* ]]; then
    COMPREPLY=($(compgen -W "$(_kubectl_ptm_vms "\${ns[@]}")" -- "$cur"))
  fi
}
complete -F _kubectl_ptm kubectl-ptm
`;
}
