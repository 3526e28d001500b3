#!/usr/bin/python
# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.config_files: a role's configuration files and directories in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: config_files
short_description: Put several configuration files, directories and links in place in one module run
version_added: 0.1.0
description:
  - Each entry of O(files) is a directory, or a file with its whole O(files[].content) (render a
    template with C(lookup('ansible.builtin.template', ...)), read a file with
    C(lookup('ansible.builtin.file', ..., rstrip=false))), and its owner, group and mode; or a
    symbolic link, or a path that must not exist.
  - One module run checks every entry and changes only what differs. C(ansible.builtin.template)
    and C(ansible.builtin.copy) run two modules for each file that is already right (a C(stat),
    then a C(file) for its attributes); a role's no-op re-run is mostly those runs.
  - A file is replaced whole or not at all (a temporary file in the same directory, renamed over
    it). With O(files[].validate), the new content is checked first.
  - Every changed file is validated before any entry is changed; one that fails changes nothing,
    and the module fails naming the file and the command's output.
  - The entries are taken in order, so a directory listed before its files is there for them.
    A directory is made with the parents it lacks, which get its owner and mode (as
    C(ansible.builtin.file) does); a file's directory must exist or be listed before it.
  - Handlers are notified per task; put the files that share a handler in one task.
author: Slipway maintainers (@slipway-ops)
attributes:
  check_mode:
    description:
      - Reports what would change, with a diff, and writes nothing; O(files[].validate) is not
        run.
    support: full
  diff_mode:
    description:
      - Each changed file's content before and after, and each changed owner, group and mode.
    support: full
options:
  files:
    description: The directories and files, in the order they are made.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: The absolute path of the file or directory.
        type: path
        required: true
      state:
        description:
          - V(file) writes O(files[].content); V(directory) makes a directory.
          - V(link) makes the path a symbolic link to O(files[].src) (a file or a link there is
            replaced, by rename); V(absent) removes a file or a link. Neither touches a directory
            (the task fails naming it), and neither uses the owner, group or mode.
        type: str
        choices: [file, directory, link, absent]
        default: file
      src:
        description: What the link points to; required with O(files[].state=link).
        type: str
      content:
        description: The file's whole content; required with O(files[].state=file).
        type: str
      mode:
        description: Octal permissions, as a string.
        type: str
        default: "0644"
      owner:
        description: The owner's user name.
        type: str
        default: root
      group:
        description: The group's name.
        type: str
        default: root
      validate:
        description:
          - A command that checks the new content before it is put in place, run without a shell;
            C(%s) is the path of a temporary file holding it. A non-zero exit fails the task.
        type: str
"""

EXAMPLES = r"""
- name: Limit the journal's size
  slipway.ops.config_files:
    files:
      - path: /etc/systemd/journald.conf.d
        state: directory
        mode: "0755"
      - path: /etc/systemd/journald.conf.d/50-slipway.conf
        content: "{{ lookup('ansible.builtin.template', 'journald-slipway.conf.j2') }}"
  notify: Restart systemd-journald

- name: Give the admin users passwordless sudo
  slipway.ops.config_files:
    files:
      - path: /etc/sudoers.d/slipway-admins
        content: "{{ lookup('ansible.builtin.template', 'etc/sudoers.d/slipway-admins.j2') }}"
        mode: "0440"
        validate: visudo -cf %s
"""

RETURN = r"""
changed_files:
  description: The paths that changed (or would, in check mode), in the order of O(files).
  returned: always
  type: list
  elements: str
  sample: [/etc/chrony/chrony.conf]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.ops.plugins.module_utils._change_report import exit_with_changes
from ansible_collections.slipway.ops.plugins.module_utils._config_files import (
    Refused,
    apply,
    plan,
    validate,
)

ARGUMENT_SPEC = {
    "files": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "path": {"type": "path", "required": True},
            "state": {
                "type": "str",
                "choices": ["file", "directory", "link", "absent"],
                "default": "file",
            },
            "content": {"type": "str"},
            "src": {"type": "str"},
            "mode": {"type": "str", "default": "0644"},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
            "validate": {"type": "str"},
        },
        "required_if": [("state", "file", ("content",)), ("state", "link", ("src",))],
    },
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        changes = plan(module.params["files"], module.check_mode)
        if not module.check_mode:
            for change in changes:
                validate(change, module.run_command)
    except (Refused, OSError) as err:
        module.fail_json(msg=str(err), changed=False, changed_files=[])
    done: list[str] = []
    for change in changes if not module.check_mode else []:
        try:
            apply(change)
        except OSError as err:
            # Each file is whole, old or new; the ones before this one are new.
            module.fail_json(
                msg=f"files: {change['path']}: {err}; "
                f"changed before it: {', '.join(done) or 'none'}.",
                changed=bool(done),
                changed_files=done,
            )
        done.append(change["path"])
    exit_with_changes(module, changes, "changed_files", "path")


if __name__ == "__main__":
    main()
