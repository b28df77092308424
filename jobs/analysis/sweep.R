#!/usr/bin/env Rscript
# sweep.R RESULTS.h5 - a parameter sweep as one R data frame: /tasks (outcome, timing,
# host), /params (the sweep's parameters) and /results (values from --collect), one row per
# task; then the same summary as sweep.py: outcomes, and the mean of every numeric result
# by the first parameter.
#
# Uses only hdf5r (Debian: r-cran-hdf5r; CRAN: install.packages("hdf5r")).
suppressPackageStartupMessages(library(hdf5r))

columns <- function(group) {
  names <- group$ls()$name
  out <- lapply(names, function(n) {
    x <- group[[n]]$read()
    if (inherits(x, "factor_ext")) as.character(x) else x  # an HDF5 enum (status): its names
  })
  names(out) <- names
  as.data.frame(out, stringsAsFactors = FALSE)
}

load_sweep <- function(path) {
  f <- H5File$new(path, mode = "r")
  on.exit(f$close_all())
  tasks <- columns(f[["tasks"]])
  tasks$seconds <- tasks$end - tasks$start
  params <- if (f$exists("params")) columns(f[["params"]]) else NULL
  results <- if (f$exists("results")) columns(f[["results"]]) else NULL
  # columns in the order the file lists them (creation order: the table's)
  if (!is.null(params)) params <- params[, f[["params"]]$ls()$name, drop = FALSE]
  list(df = cbind(tasks, if (is.null(params)) NULL else params,
                  if (is.null(results)) NULL else results),
       params = names(params), results = names(results))
}

fmt <- function(v) if (is.numeric(v)) sprintf("%.6g", v) else as.character(v)

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: sweep.R RESULTS.h5")
s <- load_sweep(args[1])
df <- s$df
cat(sprintf("tasks %d\n", nrow(df)))
counts <- table(df$status)
for (st in sort(names(counts))) cat(sprintf("status %s %d\n", st, counts[[st]]))
if (length(s$params) > 0) {
  by <- s$params[1]
  for (key in s$results) {
    if (!is.numeric(df[[key]])) next
    for (value in sort(unique(df[[by]]))) {
      x <- df[[key]][df[[by]] == value]
      cat(sprintf("mean %s by %s=%s: %s over %d tasks\n", key, by, fmt(value),
                  fmt(mean(x, na.rm = TRUE)), sum(!is.na(x))))
    }
  }
}
