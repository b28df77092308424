/* main.c - the taskfarm executable: everything it does lives in libtaskfarm. */
#include "taskfarm.h"

int main(int argc, char **argv)
{
    return taskfarm_cli_main(argc, argv);
}
