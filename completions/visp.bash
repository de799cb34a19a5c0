# SPDX-License-Identifier: GPL-3.0-or-later
# bash completion for visp(8).
#
# The nouns, verbs and options come from the binary being completed (its
# --help output, as git's completion asks git), so this file cannot fall
# behind the command table. Live values come from visp too: lease keys from
# 'visp lease list', gateway keys from the config and 'visp client status'.

# The visp being completed, with the global options that select a config or
# a cjdns (-c FILE, --cjdns ADDR, ...) already on the command line.
_visp_run()
{
	"$_visp_bin" "${_visp_global[@]}" "$@" 2>/dev/null </dev/null
}

# Option lines of a --help text: "  -c, --config=FILE  ..." or "      --name=TEXT".
# Prints "LONG SHORT ARG" per option ("-" for a missing part).
_visp_parse_opts()
{
	local line re='^ +(-([[:alnum:]?]), )?(--[[:alnum:]-]+)(=([[:alnum:]_.]+))?'

	while IFS= read -r line; do
		[[ $line =~ $re ]] || continue
		printf '%s %s %s\n' "${BASH_REMATCH[3]}" "${BASH_REMATCH[2]:--}" \
			"${BASH_REMATCH[5]:--}"
	done
}

# The names listed under a heading ("Commands:", "Verbs:") of a --help text.
_visp_parse_names()
{
	local line on='' heading=$1

	while IFS= read -r line; do
		if [[ $line == "$heading" ]]; then
			on=1
		elif [[ -z $line ]]; then
			[[ $on ]] && return
		elif [[ $on && $line =~ ^\ +([a-z][a-z0-9-]*)\  ]]; then
			printf '%s\n' "${BASH_REMATCH[1]}"
		fi
	done
}

# Sets _visp_long (every long option), _visp_short (-x long pairs) and
# _visp_witharg (options that take an argument) from a --help text.
_visp_load_opts()
{
	local long short arg

	_visp_long=() _visp_short=() _visp_witharg=()
	while read -r long short arg; do
		_visp_long+=("$long")
		[[ $short != - ]] && _visp_short+=("-$short" "$long")
		[[ $arg != - ]] && _visp_witharg+=("$long")
	done < <(_visp_parse_opts)
}

# The long option a word names (-c -> --config), or the word itself.
_visp_long_of()
{
	local i

	for ((i = 0; i < ${#_visp_short[@]}; i += 2)); do
		if [[ ${_visp_short[i]} == "$1" ]]; then
			printf '%s' "${_visp_short[i + 1]}"
			return
		fi
	done
	printf '%s' "$1"
}

_visp_takes_arg()
{
	local o long

	long=$(_visp_long_of "${1%%=*}")
	[[ $1 == *=* ]] && return 1	# --config=FILE carries its own argument
	for o in "${_visp_witharg[@]}"; do
		[[ $o == "$long" ]] && return 0
	done
	return 1
}

# Lease keys of the store (current ones; with --all, expired ones too).
_visp_lease_keys()
{
	local key rest

	_visp_run -q lease list "$@" | while read -r key rest; do
		[[ $key == *.k ]] && printf '%s\n' "$key"
	done
}

# Gateway keys: those named in the config (its "gateways"), and the gateway
# the client is connected to now.
_visp_gateway_keys()
{
	local conf=/etc/visp/visp.conf i

	for ((i = 0; i < ${#_visp_global[@]}; i++)); do
		case ${_visp_global[i]} in
		-c | --config) conf=${_visp_global[i + 1]} ;;
		--config=*) conf=${_visp_global[i]#--config=} ;;
		esac
	done
	[[ -r $conf ]] && grep -oE '[0-9b-df-hj-np-z]{52}\.k' -- "$conf"
	_visp_run -j client status | grep -oE '"gateway": *"[^"]+"' | grep -oE '[^"]+\.k'
}

# Complete the argument of option $1.
_visp_complete_optarg()
{
	case $(_visp_long_of "${1%%=*}") in
	--config | --password-file | --path | --output)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		;;
	--user)
		mapfile -t COMPREPLY < <(compgen -u -- "$cur")
		;;
	--group)
		mapfile -t COMPREPLY < <(compgen -g -- "$cur")
		;;
	esac
}

_visp()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev='' cword=$COMP_CWORD
	local -a words=("${COMP_WORDS[@]}") _visp_global=() _visp_long _visp_short _visp_witharg
	local _visp_bin=${COMP_WORDS[0]} noun='' verb='' help w i nverb=0 nargs=0

	COMPREPLY=()
	_visp_bin=$(type -P "$_visp_bin") || return
	# "--config=FILE" arrives as "--config" "=" "FILE" (= is a word break).
	if [[ $cur == = ]]; then
		cur=
	fi
	((cword > 0)) && prev=${words[cword - 1]}
	if [[ $prev == = ]] && ((cword > 1)); then
		prev=${words[cword - 2]}
	elif [[ ${words[cword]} == = ]]; then
		prev=${words[cword - 1]}
	fi

	# The global options, then the noun.
	_visp_load_opts < <("$_visp_bin" --help 2>/dev/null)
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		if [[ $w == -* ]]; then
			if _visp_takes_arg "$w" && ((i + 1 < cword)); then
				[[ ${words[i + 1]} == = ]] && ((i++))
				_visp_global+=("$w" "${words[i + 1]}")
				((i++))
			elif [[ $w == --*=* ]]; then
				_visp_global+=("$w")
			fi
			continue
		fi
		[[ $w == = ]] && continue
		noun=$w
		break
	done
	if [[ -z $noun ]]; then
		if [[ $prev == -* ]] && _visp_takes_arg "$prev"; then
			_visp_complete_optarg "$prev"
		elif [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "${_visp_long[*]}" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$("$_visp_bin" --help 2>/dev/null |
				_visp_parse_names Commands:)" -- "$cur")
		fi
		return
	fi

	# The verb, when the noun has verbs (sudoers has none).
	help=$("$_visp_bin" "$noun" --help 2>/dev/null) || return
	if [[ $help == *$'\nVerbs:\n'* ]]; then
		if ((i + 1 == cword)); then
			if [[ $cur == -* ]]; then
				mapfile -t COMPREPLY < <(compgen -W "--help" -- "$cur")
			else
				mapfile -t COMPREPLY < <(compgen -W "$(_visp_parse_names Verbs: <<<"$help")" \
					-- "$cur")
			fi
			return
		fi
		verb=${words[i + 1]}
		help=$("$_visp_bin" "$noun" "$verb" --help 2>/dev/null) || return
		nverb=1
	fi

	# The verb's options and arguments.
	_visp_load_opts <<<"$help"
	for ((i = i + 1 + nverb; i < cword; i++)); do
		w=${words[i]}
		[[ $w == = ]] && continue
		if [[ $w == -* ]]; then
			_visp_takes_arg "$w" && ((i++))
			[[ ${words[i]} == = ]] && ((i++))
		else
			((nargs++))
		fi
	done
	if [[ $prev == -* ]] && _visp_takes_arg "$prev"; then
		_visp_complete_optarg "$prev"
		return
	fi
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "${_visp_long[*]}" -- "$cur")
		return
	fi
	case $noun/$verb in
	lease/revoke | lease/show)
		((nargs == 0)) && mapfile -t COMPREPLY < <(compgen -W "$(_visp_lease_keys)" -- "$cur")
		;;
	lease/grant)
		((nargs == 0)) && mapfile -t COMPREPLY < <(compgen -W "$(_visp_lease_keys --all)" -- "$cur")
		;;
	client/connect)
		mapfile -t COMPREPLY < <(compgen -W "$(_visp_gateway_keys | sort -u)" -- "$cur")
		;;
	esac
}

complete -F _visp visp
