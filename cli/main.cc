// tanzhen: one binary, one sub-command per task (see cli/cmd_*.cc).
#include <cstdio>
#include <map>

#include "command.h"
#include "tanzhen/error.h"
#include "tanzhen/kernels/threads.h"

namespace tanzhen::cli {
std::vector<CommandInfo>& registry() {
  static std::vector<CommandInfo> commands;
  return commands;
}
}  // namespace tanzhen::cli

int main(int argc, char** argv) {
  tanzhen::kernels::apply_default_wait_policy(argv);
  using namespace tanzhen::cli;
  CLI::App app{"tanzhen (探针): Chinese NER and fill-mask with BERT-family models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tanzhen 0.1.0");
  std::map<CLI::App*, std::function<int()>> runners;
  for (auto& cmd : registry()) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.description);
    runners[sub] = cmd.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const tanzhen::Error& e) {
    std::fprintf(stderr, "tanzhen: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tanzhen: internal error: %s\n", e.what());
    return 2;
  }
  return 1;
}
