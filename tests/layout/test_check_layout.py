#!/usr/bin/env python3
"""The layout check must catch each kind of violation (a check that cannot fail is a defect)."""
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check_layout  # noqa: E402


class CheckLayoutTest(unittest.TestCase):
    def tree(self, files):
        """A scratch source tree holding `files`, removed when the test ends."""
        scratch = tempfile.TemporaryDirectory(prefix="layout-")
        self.addCleanup(scratch.cleanup)
        root = pathlib.Path(scratch.name)
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return root

    def test_clean_tree_passes(self):
        root = self.tree({"agent/src/stream/a.h": '#include "match/m.h"\n#include "stream/b.h"\n',
                          "agent/src/decode/d.cpp": '#include "credsentry_abi.h"\n',
                          "common/x.h": '#include "common/result.h"\n'})
        self.assertEqual(check_layout.check(root), [])

    def test_later_stage_include_is_reported(self):
        root = self.tree(
            {"agent/src/stream/a.h": '#include "common/result.h"\n\n#include "detect/v.h"\n'})
        self.assertEqual(check_layout.check(root), [
            "agent/src/stream/a.h:3: stage 'stream' includes 'detect/v.h' of the later stage "
            "'detect'"])

    def test_abi_outside_decode_and_loader_is_reported(self):
        root = self.tree({"agent/src/pipeline/p.cpp": '#include "credsentry_abi.h"\n'})
        self.assertIn("only decode/ and loader/ may", check_layout.check(root)[0])

    def test_collector_reaching_into_the_agent_is_reported(self):
        root = self.tree({"collector/src/ingest/s.cpp": '#include "report/alert_json.h"\n'})
        self.assertIn("share code through common/", check_layout.check(root)[0])

    def test_common_including_the_agent_is_reported(self):
        root = self.tree({"common/x.h": '#include "state/scope.h"\n'})
        self.assertIn("it may include only common/", check_layout.check(root)[0])

    def test_long_file_is_reported(self):
        root = self.tree({"agent/src/state/big.cpp": "int x;\n" * 501})
        self.assertEqual(check_layout.check(root),
                         ["agent/src/state/big.cpp: 501 lines (at most 500)"])

    def test_unknown_folder_is_reported(self):
        root = self.tree({"agent/src/extras/e.h": "\n"})
        self.assertIn("is not a stage", check_layout.check(root)[0])


if __name__ == "__main__":
    unittest.main()
